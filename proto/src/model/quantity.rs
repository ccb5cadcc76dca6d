//! Resource quantities as Kubernetes writes them: `500m`, `2`, `0.5`, `128Mi`, `1G`, `1e3`.
//!
//! The text a user wrote is kept (so a round trip changes nothing); it is checked when
//! decoded, and read as an exact integer of milli-units (CPU) or units (bytes) on demand.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A validated quantity; see the module docs for the forms it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Quantity(String);

/// How a quantity is written wrong, in words a user can act on.
pub const QUANTITY_FORMS: &str =
    "write a number with an optional suffix, such as 500m or 0.5 (CPU), 128Mi or 1Gi (memory)";

impl Quantity {
    /// Checks `text` and keeps it as written.
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_milli(text)?;
        Ok(Quantity(text.to_owned()))
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value in thousandths, rounded up (`500m` → 500, `2` → 2000, `1Ki` → 1_024_000).
    pub fn milli_value(&self) -> i128 {
        // Validated on construction; a stored value that no longer parses counts as zero.
        parse_milli(&self.0).unwrap_or(0)
    }

    /// The value in whole units, rounded up (`128Mi` → 134_217_728, `500m` → 1).
    pub fn value(&self) -> i128 {
        let m = self.milli_value();
        m.div_euclid(1000) + i128::from(m.rem_euclid(1000) != 0)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses a quantity into thousandths of its unit, rounding up, or says what is wrong.
fn parse_milli(text: &str) -> Result<i128, String> {
    let bad = |why: &str| format!("invalid quantity {text:?}: {why}; {QUANTITY_FORMS}");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad("it is empty"));
    }
    let (negative, body) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(num_end);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(bad("it does not start with a number"));
    }
    if frac_part.contains('.') {
        return Err(bad("it has two decimal points"));
    }
    if int_part.len() + frac_part.len() > 30 {
        return Err(bad("it has too many digits"));
    }
    let digits: i128 = format!("{int_part}{frac_part}")
        .parse()
        .map_err(|_| bad("the number is malformed"))?;
    // value = digits * 10^-(frac) * multiplier; track it as (numerator, power of ten, power of two).
    let mut pow10: i32 = -(frac_part.len() as i32);
    let mut pow2: u32 = 0;
    match suffix {
        "" => {}
        "n" => pow10 -= 9,
        "u" => pow10 -= 6,
        "m" => pow10 -= 3,
        "k" => pow10 += 3,
        "M" => pow10 += 6,
        "G" => pow10 += 9,
        "T" => pow10 += 12,
        "P" => pow10 += 15,
        "E" => pow10 += 18,
        "Ki" => pow2 = 10,
        "Mi" => pow2 = 20,
        "Gi" => pow2 = 30,
        "Ti" => pow2 = 40,
        "Pi" => pow2 = 50,
        "Ei" => pow2 = 60,
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..]
                .parse()
                .map_err(|_| bad("the exponent is malformed"))?;
            if !(-30..=30).contains(&exp) {
                return Err(bad("the exponent is out of range"));
            }
            pow10 += exp;
        }
        other => return Err(bad(&format!("unknown suffix {other:?}"))),
    }
    // Thousandths: one more factor of 10^3.
    pow10 += 3;
    let overflow = || bad("it is too large");
    let mut value = digits.checked_mul(1i128 << pow2).ok_or_else(overflow)?;
    if pow10 >= 0 {
        value = value
            .checked_mul(10i128.checked_pow(pow10 as u32).ok_or_else(overflow)?)
            .ok_or_else(overflow)?;
    } else {
        let div = 10i128.checked_pow((-pow10) as u32).ok_or_else(overflow)?;
        value = value / div + i128::from(value % div != 0);
    }
    if value > i128::from(i64::MAX) {
        return Err(overflow());
    }
    Ok(if negative { -value } else { value })
}

impl schemars::JsonSchema for Quantity {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A quantity such as 500m or 0.5 (CPU), 128Mi or 1Gi (memory).",
            "x-kubernetes-int-or-string": true
        })
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as 500m, 2 or 128Mi")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Quantity::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod arb {
    use super::*;
    use proptest::prelude::*;

    impl Arbitrary for Quantity {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            (
                0u32..1_000_000,
                prop::sample::select(vec!["", "m", "k", "M", "G", "Ki", "Mi", "Gi"]),
            )
                .prop_map(|(n, s)| Quantity(format!("{n}{s}")))
                .boxed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_and_memory_forms() {
        let m = |s: &str| Quantity::parse(s).unwrap().milli_value();
        assert_eq!(m("500m"), 500);
        assert_eq!(m("2"), 2000);
        assert_eq!(m("0.5"), 500);
        assert_eq!(m("1Ki"), 1_024_000);
        assert_eq!(Quantity::parse("128Mi").unwrap().value(), 134_217_728);
        assert_eq!(Quantity::parse("1e3").unwrap().value(), 1000);
        assert_eq!(Quantity::parse("1.5Gi").unwrap().value(), 1_610_612_736);
        assert_eq!(Quantity::parse("100n").unwrap().milli_value(), 1);
    }

    #[test]
    fn rejects_malformed_with_the_forms() {
        for bad in [
            "",
            "lots",
            "1.5x",
            "1..2",
            "Mi",
            "1e99",
            "99999999999999999999999999Ei",
        ] {
            let err = Quantity::parse(bad).unwrap_err();
            assert!(err.contains("invalid quantity"), "{bad}: {err}");
        }
    }
}
