DROP TABLE consents;
DROP TABLE access_tokens;
DROP TABLE authorization_codes;
DROP TABLE sessions;
DROP TABLE clients;
DROP TABLE identities;
