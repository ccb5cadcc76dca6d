//! Small value types shared by many resources: integer-or-string, timestamps and
//! base64-encoded bytes. Each keeps the wire form users write in Kubernetes manifests.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The names of the options that are set, for "exactly one of" rules (a volume's source,
/// a probe's handler).
pub fn names_set<const N: usize>(options: [(bool, &'static str); N]) -> Vec<&'static str> {
    options
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
}

/// A port or a percentage that may be written as a number or a string
/// (`targetPort: 8080` or `targetPort: http`, `maxSurge: 25%`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum IntOrString {
    Int(i32),
    String(String),
}

impl Default for IntOrString {
    fn default() -> Self {
        IntOrString::Int(0)
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrString::Int(i) => write!(f, "{i}"),
            IntOrString::String(s) => f.write_str(s),
        }
    }
}

impl Serialize for IntOrString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrString::Int(i) => s.serialize_i32(*i),
            IntOrString::String(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IntOrString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrString, E> {
                i32::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &"a 32-bit integer"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrString, E> {
                i32::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &"a 32-bit integer"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A point in time with second precision, written as RFC 3339 in UTC
/// (`2026-11-25T14:18:33Z`), as Kubernetes' `metav1.Time`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Time {
    /// Seconds since the Unix epoch.
    pub unix_seconds: u64,
}

impl Time {
    /// The current wall-clock time, truncated to seconds.
    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Time { unix_seconds: secs }
    }

    /// Parses RFC 3339 (`2026-11-25T14:18:33Z`, fractions and offsets accepted).
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = humantime::parse_rfc3339_weak(s).map_err(|e| {
            format!("invalid timestamp {s:?}: {e}; write RFC 3339 such as 2026-01-31T12:00:00Z")
        })?;
        let secs = t
            .duration_since(UNIX_EPOCH)
            .map_err(|_| format!("timestamp {s:?} is before 1970"))?;
        Ok(Time {
            unix_seconds: secs.as_secs(),
        })
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = UNIX_EPOCH + Duration::from_secs(self.unix_seconds);
        write!(f, "{}", humantime::format_rfc3339_seconds(t))
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Time::parse(&s).map_err(de::Error::custom)
    }
}

/// Bytes written as standard base64 (Secret `data`, ConfigMap `binaryData`).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Base64Bytes(pub Vec<u8>);

impl Serialize for Base64Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BASE64.decode(s.trim()).map(Base64Bytes).map_err(|e| {
            de::Error::custom(format_args!(
                "invalid base64: {e}; encode the value with `base64 -w0`, or put plain text under `stringData`"
            ))
        })
    }
}

/// The JSON schemas of the value types, as Kubernetes' OpenAPI documents write them, so
/// `kubectl explain` and validating clients read the same forms.
mod schemas {
    use super::{Base64Bytes, IntOrString, Time};
    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
    use std::borrow::Cow;

    impl JsonSchema for IntOrString {
        fn inline_schema() -> bool {
            true
        }
        fn schema_name() -> Cow<'static, str> {
            "IntOrString".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "description": "A number or a string (a port name, a percentage such as 25%).",
                "x-kubernetes-int-or-string": true,
                "format": "int-or-string"
            })
        }
    }

    impl JsonSchema for Time {
        fn inline_schema() -> bool {
            true
        }
        fn schema_name() -> Cow<'static, str> {
            "Time".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({ "type": "string", "format": "date-time" })
        }
    }

    impl JsonSchema for Base64Bytes {
        fn inline_schema() -> bool {
            true
        }
        fn schema_name() -> Cow<'static, str> {
            "Base64Bytes".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({ "type": "string", "format": "byte" })
        }
    }
}

#[cfg(test)]
pub(crate) mod arb {
    //! proptest strategies for the value types whose text form is constrained.
    use super::*;
    use proptest::prelude::*;

    impl Arbitrary for IntOrString {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            prop_oneof![
                any::<i32>().prop_map(IntOrString::Int),
                "[a-z][a-z0-9-]{0,14}".prop_map(IntOrString::String)
            ]
            .boxed()
        }
    }

    impl Arbitrary for Time {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            (0u64..253_402_300_799)
                .prop_map(|unix_seconds| Time { unix_seconds })
                .boxed()
        }
    }

    impl Arbitrary for Base64Bytes {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            proptest::collection::vec(any::<u8>(), 0..64)
                .prop_map(Base64Bytes)
                .boxed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips_through_rfc3339() {
        let t = Time::parse("2026-11-25T14:18:33Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-25T14:18:33Z");
        assert!(Time::parse("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
