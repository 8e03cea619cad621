-- What the read API (accounting/src/api.cpp) needs beyond the tables.

-- An account's workers and hashrate read share_minutes by account and time;
-- the primary key leads with coin, so it cannot serve that.
CREATE INDEX share_minutes_account ON share_minutes (account, minute);

-- Times as the API writes them: ISO 8601 in UTC with microseconds
-- ("2026-11-24T19:42:04.123456Z"), whatever the session's TimeZone.
CREATE FUNCTION bmm_api_time(t timestamptz) RETURNS text LANGUAGE sql STABLE STRICT AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
