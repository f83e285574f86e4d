// The one schema both backends share; kept equivalent to what `diesel print-schema`
// prints from either database after the migrations in `migrations/`.

diesel::table! {
    identities (id) {
        id -> Text,
        subject -> Text,
        number -> Text,
        family_name -> Text,
        given_names -> Text,
        birth_date -> Text,
        affiliations -> Text,
        institutional_email -> Nullable<Text>,
        personal_email -> Nullable<Text>,
        status -> Text,
        password_hash -> Nullable<Text>,
        password_changed_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        phone -> Nullable<Text>,
        must_change_password -> Bool,
        suspended_reason -> Nullable<Text>,
        activation_due_at -> Nullable<BigInt>,
        activation_sent_at -> Nullable<BigInt>,
        postal_address -> Nullable<Text>,
        group_names -> Text,
        keep_in_touch_email -> Nullable<Text>,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        grant_types -> Text,
        auth_method -> Text,
        is_public -> Bool,
        first_party -> Bool,
        id_token_alg -> Text,
        created_at -> BigInt,
        access_token_format -> Text,
        backchannel_logout_uri -> Nullable<Text>,
        subject_type -> Text,
        sector -> Nullable<Text>,
        jwks -> Nullable<Text>,
        jwks_uri -> Nullable<Text>,
        secret_salt -> Nullable<Text>,
        require_par -> Bool,
        refresh_idle_lifetime -> Nullable<BigInt>,
        refresh_absolute_lifetime -> Nullable<BigInt>,
        registration_token_hash -> Nullable<Text>,
        open_to_alumni -> Bool,
        open_to_parents -> Bool,
        app_password_purposes -> Text,
        attribute_writer -> Bool,
        released_attributes -> Text,
        may_introspect -> Bool,
        revision -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        token_hash -> Text,
        identity_id -> Text,
        auth_time -> BigInt,
        acr -> Text,
        amr -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        identity_id -> Text,
        session_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        auth_time -> BigInt,
        acr -> Text,
        amr -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
        replayed_at -> Nullable<BigInt>,
        claims -> Nullable<Text>,
    }
}

diesel::table! {
    access_tokens (token_hash) {
        token_hash -> Text,
        client_id -> Text,
        identity_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        code_hash -> Nullable<Text>,
        scope -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        family_id -> Nullable<Text>,
        claims -> Nullable<Text>,
        signing_kid -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        family_id -> Text,
        client_id -> Text,
        identity_id -> Text,
        session_id -> Nullable<Text>,
        scope -> Text,
        auth_time -> BigInt,
        acr -> Text,
        amr -> Text,
        created_at -> BigInt,
        idle_expires_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        claims -> Nullable<Text>,
    }
}

diesel::table! {
    consents (identity_id, client_id) {
        identity_id -> Text,
        client_id -> Text,
        scope -> Text,
        granted_at -> BigInt,
    }
}

diesel::table! {
    account_links (token_hash) {
        token_hash -> Text,
        identity_id -> Text,
        purpose -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        payload -> Nullable<Text>,
    }
}

diesel::table! {
    charters (version) {
        version -> BigInt,
        body -> Text,
        published_at -> BigInt,
    }
}

diesel::table! {
    charter_acceptances (identity_id, version) {
        identity_id -> Text,
        version -> BigInt,
        accepted_at -> BigInt,
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        created_at -> BigInt,
        not_before -> BigInt,
        attempts -> BigInt,
        claim_id -> Nullable<Text>,
        claimed_until -> Nullable<BigInt>,
        sent_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> BigInt,
        event -> Text,
        identity_id -> Nullable<Text>,
        subject -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    throttles (key) {
        key -> Text,
        failures -> BigInt,
        blocked_until -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    used_assertions (jti_hash) {
        jti_hash -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    pushed_requests (uri_hash) {
        uri_hash -> Text,
        client_id -> Text,
        parameters -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    device_grants (device_code_hash) {
        device_code_hash -> Text,
        user_code_hash -> Text,
        client_id -> Text,
        scope -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        interval_secs -> BigInt,
        last_polled_at -> Nullable<BigInt>,
        status -> Text,
        identity_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        acr -> Nullable<Text>,
        amr -> Nullable<Text>,
    }
}

diesel::table! {
    initial_access_tokens (token_hash) {
        token_hash -> Text,
        note -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        reusable -> Bool,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    identity_attributes (identity_id, name) {
        identity_id -> Text,
        name -> Text,
        label -> Text,
        value -> Text,
        link -> Nullable<Text>,
        client_id -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    app_passwords (id) {
        id -> Text,
        identity_id -> Text,
        name -> Text,
        purpose -> Text,
        password_hash -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    second_factors (identity_id) {
        identity_id -> Text,
        secret_sealed -> Text,
        created_at -> BigInt,
        confirmed_at -> Nullable<BigInt>,
        last_used_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    recovery_codes (code_hash) {
        code_hash -> Text,
        identity_id -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    parent_links (id) {
        id -> Text,
        student_id -> Text,
        parent_email -> Text,
        parent_id -> Nullable<Text>,
        shared_with_apps -> Bool,
        created_at -> BigInt,
        accepted_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    cas_services (id) {
        id -> Text,
        name -> Text,
        url_pattern -> Text,
        attributes -> Text,
        proxy_allowed -> Bool,
        logout_url -> Nullable<Text>,
        open_to_alumni -> Bool,
        open_to_parents -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    cas_tickets (ticket_hash) {
        ticket_hash -> Text,
        kind -> Text,
        service_id -> Text,
        service -> Text,
        identity_id -> Text,
        session_id -> Text,
        from_new_login -> Bool,
        proxies -> Text,
        sealed_ticket -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        validated_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    saml_service_providers (id) {
        id -> Text,
        entity_id -> Text,
        metadata -> Text,
        consumers -> Text,
        signing_certificates -> Text,
        encryption_certificate -> Nullable<Text>,
        logout_services -> Text,
        authn_requests_signed -> Bool,
        want_assertions_signed -> Bool,
        valid_until -> Nullable<BigInt>,
        attributes -> Text,
        open_to_alumni -> Bool,
        open_to_parents -> Bool,
        source -> Text,
        created_at -> BigInt,
        refreshed_at -> BigInt,
        sign_response -> Bool,
        metadata_certificate -> Nullable<Text>,
    }
}

diesel::table! {
    saml_sessions (id) {
        id -> Text,
        session_id -> Text,
        identity_id -> Text,
        sp_id -> Text,
        name_id -> Text,
        name_id_format -> Text,
        session_index -> Text,
        created_at -> BigInt,
        ended_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sealed_secrets (name) {
        name -> Text,
        sealed -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        generation -> BigInt,
        public_jwk -> Text,
        sealed_private -> Text,
        published_at -> BigInt,
        signs_from -> BigInt,
    }
}

diesel::joinable!(sessions -> identities (identity_id));
diesel::joinable!(account_links -> identities (identity_id));
diesel::joinable!(authorization_codes -> clients (client_id));
diesel::joinable!(access_tokens -> clients (client_id));
diesel::joinable!(consents -> clients (client_id));
diesel::joinable!(cas_tickets -> cas_services (service_id));
diesel::joinable!(saml_sessions -> saml_service_providers (sp_id));

diesel::allow_tables_to_appear_in_same_query!(
    identities,
    clients,
    sessions,
    authorization_codes,
    access_tokens,
    consents,
    refresh_tokens,
    account_links,
    charters,
    charter_acceptances,
    outbox,
    audit_events,
    throttles,
    used_assertions,
    pushed_requests,
    device_grants,
    initial_access_tokens,
    identity_attributes,
    app_passwords,
    second_factors,
    recovery_codes,
    parent_links,
    cas_services,
    cas_tickets,
    saml_service_providers,
    saml_sessions,
    sealed_secrets,
    signing_keys,
);
