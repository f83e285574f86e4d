//! The IdP's metadata (SAML 2.0 Metadata, with the Shibboleth `Scope` and the `mdui`
//! extensions a federation registry asks for): what service providers and the
//! federation load to trust Etupass. Written from a template, every value escaped.

use crate::cas::response::xml_escape;
use crate::config::Settings;
use crate::crypto::saml_credentials::SamlCredentials;

use super::{
    BINDING_POST, BINDING_REDIRECT, NAMEID_PERSISTENT, NAMEID_TRANSIENT, SLO_PATH, SSO_PATH,
};

/// The metadata document, in the order the schema gives (`Extensions`, `KeyDescriptor`,
/// `SingleLogoutService`, `NameIDFormat`, `SingleSignOnService`).
pub fn document(settings: &Settings, credentials: &SamlCredentials) -> String {
    let esc = |value: &str| xml_escape(value);
    let sso = esc(&settings.endpoint(SSO_PATH));
    let slo = esc(&settings.endpoint(SLO_PATH));
    let name = esc(&settings.institution_name);
    let logo = match &settings.logo_url {
        Some(url) => format!(
            "\n        <mdui:Logo height=\"80\" width=\"80\">{}</mdui:Logo>",
            esc(url)
        ),
        None => String::new(),
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" entityID="{entity}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:Extensions>
      <shibmd:Scope regexp="false">{scope}</shibmd:Scope>
      <mdui:UIInfo>
        <mdui:DisplayName xml:lang="fr">{name}</mdui:DisplayName>
        <mdui:DisplayName xml:lang="en">{name}</mdui:DisplayName>{logo}
      </mdui:UIInfo>
    </md:Extensions>
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo>
        <ds:X509Data>
          <ds:X509Certificate>{certificate}</ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleLogoutService Binding="{BINDING_REDIRECT}" Location="{slo}"/>
    <md:SingleLogoutService Binding="{BINDING_POST}" Location="{slo}"/>
    <md:NameIDFormat>{NAMEID_PERSISTENT}</md:NameIDFormat>
    <md:NameIDFormat>{NAMEID_TRANSIENT}</md:NameIDFormat>
    <md:SingleSignOnService Binding="{BINDING_REDIRECT}" Location="{sso}"/>
    <md:SingleSignOnService Binding="{BINDING_POST}" Location="{sso}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = esc(&super::entity_id(settings)),
        scope = esc(&settings.eppn_domain),
        certificate = credentials.certificate_base64(),
    )
}
