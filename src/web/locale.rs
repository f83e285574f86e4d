//! The language of a page: `ui_locales` first (OIDC Core §3.1.2.1), then the browser's
//! `Accept-Language`, then the configured default.

use crate::views::LANGUAGES;

pub fn choose(
    ui_locales: Option<&str>,
    accept_language: Option<&str>,
    default: &str,
) -> &'static str {
    if let Some(lang) = ui_locales.and_then(|v| first_supported(v.split(' '))) {
        return lang;
    }
    if let Some(header) = accept_language {
        let mut ranked: Vec<(f32, &str)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.trim().split(';');
                let tag = pieces.next()?.trim();
                let quality = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(1.0);
                Some((quality, tag))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        if let Some(lang) =
            first_supported(ranked.into_iter().filter(|(q, _)| *q > 0.0).map(|(_, t)| t))
        {
            return lang;
        }
    }
    LANGUAGES
        .into_iter()
        .find(|l| *l == default)
        .unwrap_or("fr")
}

fn first_supported<'a>(tags: impl Iterator<Item = &'a str>) -> Option<&'static str> {
    tags.filter_map(|tag| {
        let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        LANGUAGES.into_iter().find(|l| *l == primary)
    })
    .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_locales_win() {
        assert_eq!(choose(Some("de en-GB"), Some("fr"), "fr"), "en");
    }

    #[test]
    fn accept_language_by_quality() {
        assert_eq!(choose(None, Some("de;q=1, en;q=0.8, fr;q=0.5"), "fr"), "en");
        assert_eq!(choose(None, Some("de"), "fr"), "fr");
        assert_eq!(choose(None, None, "en"), "en");
    }
}
