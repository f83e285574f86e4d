-- CAS 3.0: the services that may receive tickets, and the tickets themselves.
CREATE TABLE cas_services (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    -- A regular expression (starting with ^) or a URL prefix.
    url_pattern TEXT NOT NULL,
    -- JSON list of the attribute names released to the service.
    attributes TEXT NOT NULL,
    proxy_allowed BOOLEAN NOT NULL DEFAULT 0,
    logout_url TEXT,
    open_to_alumni BOOLEAN NOT NULL DEFAULT 0,
    open_to_parents BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Service, proxy and proxy-granting tickets, by the SHA-256 of the ticket.
CREATE TABLE cas_tickets (
    ticket_hash TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    service_id TEXT NOT NULL REFERENCES cas_services(id) ON DELETE CASCADE,
    -- The exact service URL a ticket was issued for (for a PGT, its pgtUrl).
    service TEXT NOT NULL,
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    session_id TEXT NOT NULL,
    from_new_login BOOLEAN NOT NULL,
    -- JSON list: the proxies a proxy ticket went through, nearest first.
    proxies TEXT NOT NULL,
    -- The ticket itself, sealed, kept after a successful validation until single logout
    -- tells the service (the SessionIndex of its LogoutRequest).
    sealed_ticket TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    validated_at BIGINT
);
CREATE INDEX cas_tickets_session ON cas_tickets (session_id);
CREATE INDEX cas_tickets_expiry ON cas_tickets (expires_at);
CREATE INDEX cas_tickets_identity_service ON cas_tickets (identity_id, service_id);
