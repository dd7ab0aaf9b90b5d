-- Read-only: is everything the role grants/revokes already in place? One row; `in_place` is the AND of
-- the detail columns (kept for debugging). Lets a no-op run skip the ten privilege module calls.
WITH r AS (
  SELECT (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(app)s) AS app,
         (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(admin)s) AS admin
), checks AS (
  SELECT
    coalesce((SELECT datdba = r.admin FROM pg_catalog.pg_database WHERE datname = %(db)s), false) AS db_owner,
    -- PUBLIC (grantee 0) holds nothing on the application and maintenance databases (NULL acl = defaults)
    coalesce((SELECT bool_and(datacl IS NOT NULL
                              AND NOT EXISTS (SELECT 1 FROM aclexplode(datacl) a WHERE a.grantee = 0))
              FROM pg_catalog.pg_database WHERE datname IN (%(db)s, 'postgres')), false) AS public_revoked,
    coalesce(has_database_privilege(r.app, %(db)s, 'CONNECT'), false) AS app_connect,
    coalesce(has_schema_privilege(r.app, %(schema)s, 'USAGE'), false) AS app_schema_usage,
    -- CREATE on the schema exactly when docker_postgres_app_ddl
    coalesce(has_schema_privilege(r.app, %(schema)s, 'CREATE'), false) = %(ddl)s AS app_schema_create,
    r.app IS NOT NULL AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'v', 'm', 'p')
        AND NOT (has_table_privilege(r.app, c.oid, 'SELECT') AND has_table_privilege(r.app, c.oid, 'INSERT')
                 AND has_table_privilege(r.app, c.oid, 'UPDATE') AND has_table_privilege(r.app, c.oid, 'DELETE'))
    ) AS app_tables,
    r.app IS NOT NULL AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = %(schema)s AND c.relkind = 'S'
        AND NOT (has_sequence_privilege(r.app, c.oid, 'USAGE') AND has_sequence_privilege(r.app, c.oid, 'SELECT'))
    ) AS app_sequences,
    (SELECT count(DISTINCT a.privilege_type) = 4
     FROM pg_catalog.pg_default_acl d
     JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
     CROSS JOIN LATERAL aclexplode(d.defaclacl) a
     WHERE d.defaclrole = r.admin AND n.nspname = %(schema)s AND d.defaclobjtype = 'r'
       AND a.grantee = r.app AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')) AS default_tables,
    (SELECT count(DISTINCT a.privilege_type) = 2
     FROM pg_catalog.pg_default_acl d
     JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
     CROSS JOIN LATERAL aclexplode(d.defaclacl) a
     WHERE d.defaclrole = r.admin AND n.nspname = %(schema)s AND d.defaclobjtype = 'S'
       AND a.grantee = r.app AND a.privilege_type IN ('USAGE', 'SELECT')) AS default_sequences
  FROM r
)
SELECT db_owner AND public_revoked AND app_connect AND app_schema_usage AND app_schema_create AND app_tables AND app_sequences
       AND default_tables AND default_sequences AS in_place, *
FROM checks
