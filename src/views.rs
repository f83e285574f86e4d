//! Pages: handlebars templates embedded in the binary, strict mode, and the `t` helper
//! that looks texts up in the language of the page (French by default, English).

use std::collections::HashMap;

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason,
};
use serde_json::{Map, Value};

pub const LANGUAGES: [&str; 2] = ["fr", "en"];

const TEMPLATES: [(&str, &str); 23] = [
    (
        "logout_confirm",
        include_str!("../templates/pages/logout_confirm.hbs"),
    ),
    ("notice", include_str!("../templates/pages/notice.hbs")),
    (
        "saml_post",
        include_str!("../templates/pages/saml_post.hbs"),
    ),
    (
        "signed_out",
        include_str!("../templates/pages/signed_out.hbs"),
    ),
    (
        "forgot_password",
        include_str!("../templates/pages/forgot_password.hbs"),
    ),
    (
        "forgot_number",
        include_str!("../templates/pages/forgot_number.hbs"),
    ),
    (
        "new_password",
        include_str!("../templates/pages/new_password.hbs"),
    ),
    ("charter", include_str!("../templates/pages/charter.hbs")),
    (
        "link_invalid",
        include_str!("../templates/pages/link_invalid.hbs"),
    ),
    ("theft", include_str!("../templates/pages/theft.hbs")),
    (
        "theft_confirm",
        include_str!("../templates/pages/theft_confirm.hbs"),
    ),
    ("layout", include_str!("../templates/layout.hbs")),
    ("login", include_str!("../templates/pages/login.hbs")),
    ("consent", include_str!("../templates/pages/consent.hbs")),
    ("device", include_str!("../templates/pages/device.hbs")),
    ("account", include_str!("../templates/pages/account.hbs")),
    (
        "email_confirm",
        include_str!("../templates/pages/email_confirm.hbs"),
    ),
    (
        "second_factor",
        include_str!("../templates/pages/second_factor.hbs"),
    ),
    (
        "second_factor_setup",
        include_str!("../templates/pages/second_factor_setup.hbs"),
    ),
    (
        "recovery_codes",
        include_str!("../templates/pages/recovery_codes.hbs"),
    ),
    (
        "parent_invitation",
        include_str!("../templates/pages/parent_invitation.hbs"),
    ),
    ("error", include_str!("../templates/pages/error.hbs")),
    ("home", include_str!("../templates/pages/home.hbs")),
];

const CATALOGS: [(&str, &str); 2] = [
    ("fr", include_str!("../templates/i18n/fr.toml")),
    ("en", include_str!("../templates/i18n/en.toml")),
];

const MAIL_TEXT: &str = include_str!("../templates/mail/mail.txt.hbs");
const MAIL_HTML: &str = include_str!("../templates/mail/mail.html.hbs");

pub const STYLESHEET: &str = include_str!("../templates/static/etupass.css");
pub const STRENGTH_SCRIPT: &str = include_str!("../templates/static/strength.js");
pub const AUTOSUBMIT_SCRIPT: &str = include_str!("../templates/static/autosubmit.js");
pub const LOGOUT_SCRIPT: &str = include_str!("../templates/static/logout.js");

type Catalogs = HashMap<&'static str, HashMap<String, String>>;

pub struct Views {
    registry: Handlebars<'static>,
    /// Plain-text mail bodies: same helpers, no HTML escaping.
    text_registry: Handlebars<'static>,
    catalogs: std::sync::Arc<Catalogs>,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Views")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("template {0}: {1}")]
    Template(&'static str, String),
    #[error("catalog {0}: {1}")]
    Catalog(&'static str, String),
    #[error("rendering {0}: {1}")]
    Render(String, String),
}

impl Views {
    /// Compiles every template and checks that both catalogs have the same keys.
    pub fn new() -> Result<Views, ViewError> {
        let mut catalogs: Catalogs = HashMap::new();
        for (lang, source) in CATALOGS {
            let table: HashMap<String, String> =
                toml::from_str(source).map_err(|e| ViewError::Catalog(lang, e.to_string()))?;
            catalogs.insert(lang, table);
        }
        for (lang, table) in &catalogs {
            for other in LANGUAGES.iter().filter(|l| *l != lang) {
                if let Some(missing) = table.keys().find(|k| !catalogs[other].contains_key(*k)) {
                    return Err(ViewError::Catalog(
                        lang,
                        format!("'{missing}' missing in {other}"),
                    ));
                }
            }
        }
        let catalogs = std::sync::Arc::new(catalogs);
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_helper(
            "t",
            Box::new(Translate {
                catalogs: catalogs.clone(),
            }),
        );
        registry
            .register_template_string("mail_html", MAIL_HTML)
            .map_err(|e| ViewError::Template("mail_html", e.to_string()))?;
        let mut text_registry = Handlebars::new();
        text_registry.set_strict_mode(true);
        text_registry.register_escape_fn(handlebars::no_escape);
        text_registry.register_helper(
            "t",
            Box::new(Translate {
                catalogs: catalogs.clone(),
            }),
        );
        text_registry
            .register_template_string("mail_text", MAIL_TEXT)
            .map_err(|e| ViewError::Template("mail_text", e.to_string()))?;
        for (name, source) in TEMPLATES {
            if name == "layout" {
                registry.register_partial(name, source)
            } else {
                registry.register_template_string(name, source)
            }
            .map_err(|e| ViewError::Template(name, e.to_string()))?;
        }
        Ok(Views {
            registry,
            text_registry,
            catalogs,
        })
    }

    /// One text of the catalog, unescaped (mail subjects).
    pub fn text(&self, lang: &str, key: &str) -> Result<String, ViewError> {
        self.catalogs
            .get(lang)
            .and_then(|table| table.get(key))
            .cloned()
            .ok_or_else(|| ViewError::Render(key.to_string(), format!("no '{lang}' text")))
    }

    pub fn render_mail_text(&self, data: &Value) -> Result<String, ViewError> {
        self.text_registry
            .render("mail_text", data)
            .map_err(|e| ViewError::Render("mail_text".into(), e.to_string()))
    }

    pub fn render_mail_html(&self, data: &Value) -> Result<String, ViewError> {
        self.registry
            .render("mail_html", data)
            .map_err(|e| ViewError::Render("mail_html".into(), e.to_string()))
    }

    /// Renders `page` with `data`, adding the language and the institution name.
    pub fn render(
        &self,
        page: &str,
        lang: &str,
        institution: &str,
        title_key: &str,
        mut data: Map<String, Value>,
    ) -> Result<String, ViewError> {
        data.insert("lang".into(), Value::from(lang));
        data.insert("institution".into(), Value::from(institution));
        data.insert("title".into(), Value::from(title_key));
        self.registry
            .render(page, &Value::Object(data))
            .map_err(|e| ViewError::Render(page.to_string(), e.to_string()))
    }
}

struct Translate {
    catalogs: std::sync::Arc<Catalogs>,
}

impl HelperDef for Translate {
    fn call<'reg: 'rc, 'rc>(
        &self,
        helper: &Helper<'rc>,
        registry: &'reg Handlebars<'reg>,
        context: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let key = helper
            .param(0)
            .and_then(|p| p.value().as_str())
            .ok_or_else(|| RenderError::from(RenderErrorReason::ParamNotFoundForIndex("t", 0)))?;
        let lang = context
            .data()
            .get("lang")
            .and_then(Value::as_str)
            .unwrap_or("fr");
        let text = self
            .catalogs
            .get(lang)
            .and_then(|table| table.get(key))
            .ok_or_else(|| {
                RenderError::from(RenderErrorReason::Other(format!(
                    "no '{lang}' text for '{key}'"
                )))
            })?;
        // HTML pages escape; plain-text mails do not (their registry has no escaping).
        out.write(&registry.get_escape_fn()(text))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_renders_in_both_languages() {
        let views = Views::new().unwrap();
        for lang in LANGUAGES {
            let mut data = Map::new();
            data.insert("csrf_token".into(), "t".into());
            data.insert("request".into(), "a=1&b=<2>".into());
            data.insert("client_name".into(), "Webmail".into());
            data.insert("error".into(), Value::Null);
            data.insert("username".into(), Value::Null);
            let html = views
                .render("login", lang, "Université", "login.title", data)
                .unwrap();
            assert!(html.contains(&format!("lang=\"{lang}\"")));
            assert!(
                html.contains("a&#x3D;1&amp;b&#x3D;&lt;2&gt;"),
                "values are escaped"
            );
        }
    }
}
