//! Label selectors as users type them (`-l app=web,tier!=db`), parsed with Kubernetes'
//! syntax: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists), `!k`
//! (does not exist), joined by commas. Keys and values are checked like labels.

use super::selector::{LabelSelector, LabelSelectorRequirement, SelectorOperator};
use crate::validate::names::{label_key, label_value};

impl LabelSelector {
    /// Parses the text form; the error says which requirement is wrong and why.
    pub fn parse(text: &str) -> Result<LabelSelector, String> {
        let mut sel = LabelSelector::default();
        for part in split_requirements(text)? {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!(
                    "selector {text:?}: an empty requirement (two commas, or a trailing comma)"
                ));
            }
            let req =
                requirement(part).map_err(|e| format!("selector requirement {part:?}: {e}"))?;
            match req {
                Parsed::Equals(k, v) => {
                    sel.match_labels.insert(k, v);
                }
                Parsed::Requirement(r) => sel.match_expressions.push(r),
            }
        }
        Ok(sel)
    }
}

enum Parsed {
    Equals(String, String),
    Requirement(LabelSelectorRequirement),
}

/// Splits at commas outside parentheses.
fn split_requirements(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, ch) in text.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err(format!("selector {text:?}: unbalanced parentheses"));
        }
    }
    if depth != 0 {
        return Err(format!("selector {text:?}: a `(` is not closed"));
    }
    if !text.trim().is_empty() {
        parts.push(&text[start..]);
    }
    Ok(parts)
}

fn requirement(part: &str) -> Result<Parsed, String> {
    let key = |k: &str| {
        let k = k.trim();
        label_key(k)
            .map(|()| k.to_owned())
            .map_err(|e| format!("key {k:?}: {e}"))
    };
    let value = |v: &str| {
        let v = v.trim();
        label_value(v)
            .map(|()| v.to_owned())
            .map_err(|e| format!("value {v:?}: {e}"))
    };
    let expr = |k: &str, operator, values| {
        Ok(Parsed::Requirement(LabelSelectorRequirement {
            key: key(k)?,
            operator,
            values,
        }))
    };
    if let Some((k, v)) = part.split_once("!=") {
        return expr(k, SelectorOperator::NotIn, vec![value(v)?]);
    }
    if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Parsed::Equals(key(k)?, value(v)?));
    }
    if let Some(k) = part.strip_prefix('!') {
        return expr(k, SelectorOperator::DoesNotExist, Vec::new());
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if let [k, rest] = words[..] {
        let rest = rest.trim_start();
        let (operator, list) = if let Some(l) = rest.strip_prefix("notin") {
            (SelectorOperator::NotIn, l)
        } else if let Some(l) = rest.strip_prefix("in") {
            (SelectorOperator::In, l)
        } else {
            return Err(format!(
                "expected `in (...)` or `notin (...)` after {k:?}, found {rest:?}"
            ));
        };
        let inner = list
            .trim()
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .ok_or("the values must be in parentheses: `key in (a,b)`")?;
        let values = inner.split(',').map(value).collect::<Result<Vec<_>, _>>()?;
        return expr(k, operator, values);
    }
    expr(part, SelectorOperator::Exists, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::selector::tests::labels;

    #[test]
    fn every_operator_parses_and_matches() {
        let s = LabelSelector::parse(
            "app=web, tier!=db,env in (prod, staging),zone notin (b),canary,!legacy",
        )
        .unwrap();
        assert_eq!(s.match_labels, labels(&[("app", "web")]));
        assert_eq!(s.match_expressions.len(), 5);
        let pod = labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("env", "prod"),
            ("canary", ""),
        ]);
        assert!(s.matches(&pod));
        for (k, v) in [
            ("tier", "db"),
            ("env", "dev"),
            ("zone", "b"),
            ("legacy", "1"),
        ] {
            let mut other = pod.clone();
            other.insert(k.into(), v.into());
            assert!(!s.matches(&other), "{k}={v}");
        }
        assert!(
            !s.matches(&labels(&[("app", "web"), ("env", "prod")])),
            "canary must exist"
        );
        assert_eq!(
            LabelSelector::parse("a==b").unwrap().match_labels,
            labels(&[("a", "b")])
        );
        assert!(LabelSelector::parse("").unwrap().is_empty());
    }

    #[test]
    fn mistakes_are_explained() {
        for (text, says) in [
            ("app=web,", "empty requirement"),
            ("env in (a,b", "not closed"),
            ("env in a,b", "parentheses"),
            ("env within (a)", "expected `in (...)`"),
            ("bad key=x", "key \"bad key\""),
            ("app=-web", "value \"-web\""),
            ("a)b", "unbalanced"),
        ] {
            let e = LabelSelector::parse(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
