// Posts the SAML form of the page at once (the button stays for browsers without scripts).
document.getElementById("saml-post")?.submit();
