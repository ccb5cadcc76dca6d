//! Turns serde's terse messages into ones a user can act on, with a hint: the closest
//! valid name for a typo, the allowed values, or how to quote a value.

/// A message and an optional hint.
pub struct Explained {
    pub message: String,
    pub hint: Option<String>,
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let d = strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase());
            (d, c)
        })
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The names between backticks after "expected" in a serde message.
fn expected_names(msg: &str) -> Vec<&str> {
    let Some(at) = msg.find("expected") else {
        return Vec::new();
    };
    msg[at..].split('`').skip(1).step_by(2).collect()
}

/// The first name between backticks in a serde message.
fn first_quoted(msg: &str) -> Option<&str> {
    msg.split('`').nth(1)
}

/// Rewrites one message from typed decoding (serde or a custom deserializer).
pub fn explain(msg: &str) -> Explained {
    let plain = |m: &str| Explained {
        message: m.to_owned(),
        hint: None,
    };
    if msg.starts_with("unknown field") {
        let field = first_quoted(msg).unwrap_or("?");
        let expected = expected_names(msg);
        let hint = match closest(field, expected.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None if expected.is_empty() => "this object takes no fields".to_owned(),
            None => format!("fields allowed here: {}", expected.join(", ")),
        };
        return Explained {
            message: format!("unknown field `{field}`"),
            hint: Some(hint),
        };
    }
    if msg.starts_with("unknown variant") {
        let value = first_quoted(msg).unwrap_or("?");
        let expected = expected_names(msg);
        let hint = match closest(value, expected.iter().copied()) {
            Some(best) => format!("did you mean `{best}`? (allowed: {})", expected.join(", ")),
            None => format!("allowed values: {}", expected.join(", ")),
        };
        return Explained {
            message: format!("unknown variant `{value}`"),
            hint: Some(hint),
        };
    }
    if let Some(field) = msg
        .strip_prefix("missing field ")
        .and_then(|_| first_quoted(msg))
    {
        return Explained {
            message: format!("missing field `{field}`"),
            hint: Some(format!("add `{field}:` to this object; it is required")),
        };
    }
    if msg.starts_with("invalid type") {
        let msg = msg
            .replace("expected i32", "expected an integer")
            .replace("expected i64", "expected an integer")
            .replace("expected u32", "expected a non-negative integer")
            .replace("expected u64", "expected a non-negative integer");
        let hint = if msg.contains("invalid type: string") && msg.contains("integer") {
            Some("write the number without quotes".to_owned())
        } else if msg.contains("expected a string")
            && !msg.contains("invalid type: map")
            && !msg.contains("sequence")
        {
            Some("quote the value to make it a string, e.g. \"2\" or \"true\"".to_owned())
        } else if msg.contains("expected a sequence") {
            Some("write a list: one `- item` per line".to_owned())
        } else if msg.contains("expected struct") || msg.contains("expected a map") {
            Some("write a mapping of `field: value` lines".to_owned())
        } else {
            None
        };
        return Explained { message: msg, hint };
    }
    plain(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_gets_the_closest_field() {
        let e = explain("unknown field `imagee`, expected one of `name`, `image`, `args`");
        assert_eq!(e.message, "unknown field `imagee`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `image`?"));
    }

    #[test]
    fn unrelated_word_lists_the_fields() {
        let e = explain("unknown field `zzzzzz`, expected `name` or `image`");
        assert_eq!(e.hint.as_deref(), Some("fields allowed here: name, image"));
    }

    #[test]
    fn bad_enum_lists_the_values() {
        let e = explain("unknown variant `Alway`, expected one of `Always`, `OnFailure`, `Never`");
        assert!(e.hint.unwrap().starts_with("did you mean `Always`?"));
    }

    #[test]
    fn number_for_string_says_quote_it() {
        let e = explain("invalid type: integer `2`, expected a string");
        assert!(e.hint.unwrap().contains("quote"));
    }
}
