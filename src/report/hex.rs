use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An address or other machine word, rendered as a `"0x…"` string in JSON (JSON
/// numbers lose precision above 2^53).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hex(pub u64);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:#x}", self.0))
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let digits = s
            .strip_prefix("0x")
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a 0x… hex number")))?;
        u64::from_str_radix(digits, 16)
            .map(Hex)
            .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
    }
}

impl std::fmt::Display for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl From<u64> for Hex {
    fn from(v: u64) -> Self {
        Hex(v)
    }
}
