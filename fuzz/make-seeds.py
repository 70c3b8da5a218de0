#!/usr/bin/env python3
"""Build the fuzz seed corpora from the fixture cores and the shared corpus.

Usage (from the repository root): python3 fuzz/make-seeds.py
Writes fuzz/corpus/{core,analysis,notes,nt_file,layout}/ (git-ignored). Needs `zstd`.
"""
import glob
import hashlib
import json
import os
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")
CORE_MAX = 256 * 1024  # seeds for the core target are cut to this size

# (e_machine, is64) in the order of mutexdiag::fuzzing::ARCHES.
MACHINES = [(62, True), (62, False), (3, False), (183, True), (40, False), (20, False),
            (21, True), (22, False), (22, True), (2, False), (43, True), (8, False),
            (8, True), (243, False), (243, True), (4, False), (258, True)]


def cores():
    paths = sorted(glob.glob(os.path.join(ROOT, "fixtures", "*", "core.*.zst")))
    paths += sorted(glob.glob(os.path.join(ROOT, "..", "shared", "corpus", "cores", "*")))
    for p in paths:
        if p.endswith(".zst"):
            data = subprocess.run(["zstd", "-dc", p], check=True, capture_output=True).stdout
        else:
            data = open(p, "rb").read()
        facts = None
        if "fixtures" in p:
            role = os.path.basename(p).split(".")[1]
            f = os.path.join(os.path.dirname(p), "facts.%s.json" % role)
            if os.path.exists(f):
                facts = json.load(open(f))
        yield p, data, facts


def phdrs(data):
    is64 = data[4] == 2
    e = "<" if data[5] == 1 else ">"
    if is64:
        machine, = struct.unpack_from(e + "H", data, 18)
        phoff, = struct.unpack_from(e + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(e + "HH", data, 54)
    else:
        machine, = struct.unpack_from(e + "H", data, 18)
        phoff, = struct.unpack_from(e + "I", data, 28)
        phentsize, phnum = struct.unpack_from(e + "HH", data, 42)
    out = []
    for i in range(phnum):
        o = phoff + i * phentsize
        if is64:
            t, _f, off, vaddr, _pa, filesz, memsz = struct.unpack_from(e + "IIQQQQQ", data, o)
        else:
            t, off, vaddr, _pa, filesz, memsz = struct.unpack_from(e + "IIIIII", data, o)
        out.append((t, off, vaddr, filesz, memsz))
    return is64, e, machine, out


def notes(seg, e):
    p = 0
    while p + 12 <= len(seg):
        namesz, descsz, typ = struct.unpack_from(e + "III", seg, p)
        name = seg[p + 12:p + 12 + namesz]
        d = p + 12 + ((namesz + 3) & ~3)
        yield name, typ, seg[d:d + descsz]
        p = d + ((descsz + 3) & ~3)


def put(kind, data):
    d = os.path.join(OUT, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def main():
    n = 0
    for path, data, facts in cores():
        if data[:4] != b"\x7fELF":
            continue
        is64, e, machine, ph = phdrs(data)
        sel = None
        for i, m in enumerate(MACHINES):
            if m == (machine, is64):
                sel = (i << 1) | (1 if e == ">" else 0)
        note_end = 0
        for t, off, vaddr, filesz, memsz in ph:
            if t == 4:
                note_end = max(note_end, off + filesz)
                seg = data[off:off + filesz]
                if sel is not None:
                    put("notes", bytes([sel]) + seg)
                for name, typ, desc in notes(seg, e):
                    if typ == 0x46494C45 and name.startswith(b"CORE"):
                        put("nt_file", bytes([(0 if is64 else 1) | (2 if e == ">" else 0)]) + desc)
        for kind in ("core", "analysis"):
            put(kind, data[:min(len(data), max(note_end + 65536, 8192), CORE_MAX)])
            if len(data) <= CORE_MAX:
                put(kind, data)
        if facts and sel is not None:
            for m in facts.get("mutexes", []):
                a = int(m["address"], 16)
                for t, off, vaddr, filesz, memsz in ph:
                    if t == 1 and vaddr <= a < vaddr + filesz and off + (a - vaddr) + 64 <= len(data):
                        o = off + (a - vaddr)
                        put("layout", bytes([sel]) + data[o:o + 64])
        n += 1
    print("seeds from %d cores in %s" % (n, OUT))


if __name__ == "__main__":
    sys.exit(main())
