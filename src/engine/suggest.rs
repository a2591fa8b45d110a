//! "Did you mean" suggestions for misspelt keys, ids and names.

/// At most this many candidates are compared, so that a file with thousands of
/// typos over thousands of ids is still checked quickly.
const MAX_CANDIDATES: usize = 2000;

/// The candidate closest to `word`, if one is close enough to be a likely typo.
pub fn suggest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (word.chars().count() / 3).clamp(1, 3);
    let len = word.len();
    candidates
        .into_iter()
        // A word whose length differs by more than the limit cannot be within it;
        // skipping it keeps thousands of suggestions over thousands of ids cheap.
        .filter(|c| c.len().abs_diff(len) <= limit)
        .take(MAX_CANDIDATES)
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean `X`?" for the candidate [`suggest`] finds, if any.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    suggest(word, candidates).map(|s| format!("did you mean `{s}`?"))
}

#[cfg(test)]
mod tests {
    use super::suggest;

    #[test]
    fn close_words_are_suggested_and_far_ones_not() {
        let keys = ["command", "depends_on", "timeout"];
        assert_eq!(suggest("comand", keys), Some("command"));
        assert_eq!(suggest("depends", keys), None);
        assert_eq!(suggest("dependson", keys), Some("depends_on"));
        assert_eq!(suggest("zzz", keys), None);
    }
}
