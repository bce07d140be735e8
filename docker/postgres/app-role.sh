#!/bin/sh
# The app's own PostgreSQL role: it owns the ageweb database (so it can migrate it) and is no
# superuser. The postgres image runs this once, when it makes its data folder
# (/docker-entrypoint-initdb.d); `make container-test` runs it against its private server.
# Environment: POSTGRES_USER (the superuser), AGEWEB_DB_PASSWORD (the role's password).
set -eu
: "${AGEWEB_DB_PASSWORD:?set AGEWEB_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 -v password="$AGEWEB_DB_PASSWORD" --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
CREATE ROLE ageweb LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
CREATE DATABASE ageweb OWNER ageweb;
REVOKE ALL ON DATABASE ageweb FROM PUBLIC;
SQL
