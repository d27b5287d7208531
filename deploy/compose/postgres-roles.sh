#!/bin/sh
# docker-compose.yml's PostgreSQL, on its first start: the database, owned by telebill_owner
# (migrations run as it and grant each role its rights), and one login role per kind of
# process (docs/security.md, "PostgreSQL roles, least privilege"), each with its password
# from the environment.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner="$TELEBILL_PG_OWNER_PASSWORD" -v worker="$TELEBILL_PG_WORKER_PASSWORD" \
  -v consumer="$TELEBILL_PG_CONSUMER_PASSWORD" -v api="$TELEBILL_PG_API_PASSWORD" <<'SQL'
CREATE ROLE telebill_owner LOGIN PASSWORD :'owner';
CREATE ROLE telebill_worker LOGIN PASSWORD :'worker';
CREATE ROLE telebill_consumer LOGIN PASSWORD :'consumer';
CREATE ROLE telebill_api LOGIN PASSWORD :'api';
CREATE DATABASE telebill OWNER telebill_owner;
SQL
