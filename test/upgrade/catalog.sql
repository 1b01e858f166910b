-- test/upgrade/catalog.sql: a sorted, text listing of everything the crm
-- extension defines.  test/run.sh compares it between a fresh install of the
-- current version and an install of each released version brought up to date
-- with ALTER EXTENSION crm UPDATE: the two must be the same.
-- Column order is not compared (ALTER TABLE ADD COLUMN appends).
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'crm'),
members AS (
  SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS line
    FROM pg_depend d, ext WHERE d.refclassid = 'pg_extension'::regclass
     AND d.refobjid = ext.oid AND d.deptype = 'e'
),
cols AS (
  SELECT format('column %s.%s %s%s%s%s%s acl=%s comment=%s', c.relname, a.attname,
                format_type(a.atttypid, a.atttypmod),
                CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END,
                CASE WHEN a.attgenerated <> '' THEN ' generated' ELSE '' END,
                COALESCE(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''),
                COALESCE(a.attacl::text, '-'), COALESCE(col_description(c.oid, a.attnum), '-'))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
   WHERE n.nspname = 'crm'
),
rels AS (
  SELECT format('relation %s kind=%s rls=%s force=%s options=%s acl=%s comment=%s', c.relname,
                c.relkind, c.relrowsecurity, c.relforcerowsecurity, COALESCE(c.reloptions::text, '-'),
                COALESCE(c.relacl::text, '-'), COALESCE(obj_description(c.oid, 'pg_class'), '-'))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'crm' AND c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S')
),
cons AS (
  SELECT format('constraint %s.%s %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'crm'
),
idx AS (
  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'crm'
),
funcs AS (
  SELECT format('function %s acl=%s comment=%s %s', p.oid::regprocedure, COALESCE(p.proacl::text, '-'),
                COALESCE(obj_description(p.oid, 'pg_proc'), '-'), pg_get_functiondef(p.oid))
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname = 'crm' AND p.prokind IN ('f', 'p', 'w')
),
views AS (
  SELECT format('view %s %s', c.relname, pg_get_viewdef(c.oid))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'crm' AND c.relkind IN ('v', 'm')
),
trigs AS (
  SELECT 'trigger ' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'crm' AND NOT t.tgisinternal
),
pols AS (
  SELECT format('policy %s.%s %s %s roles=%s using=%s check=%s', tablename, policyname, permissive,
                cmd, roles, qual, with_check)
    FROM pg_policies WHERE schemaname = 'crm'
),
types AS (
  SELECT format('type %s %s', t.typname, t.typtype) ||
         COALESCE(' ' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                            FROM pg_enum e WHERE e.enumtypid = t.oid), '')
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE n.nspname = 'crm' AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0 OR
         (n.nspname = 'crm' AND t.typtype = 'c' AND
          (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
),
config AS (
  SELECT format('config %s %s', c::regclass, cond)
    FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(c, cond)
   WHERE e.extname = 'crm'
),
seeds AS (
  -- the rows the install and upgrade scripts seed (tables dumped 'WHERE NOT builtin')
  SELECT format('seed %s %s', c::regclass,
                (xpath('//rows/text()', query_to_xml(format(
                   'SELECT string_agg(r, '' | '' ORDER BY r) AS rows FROM (SELECT (to_jsonb(t) - ''id'')::text AS r FROM %s t WHERE builtin) s',
                   c::regclass), false, true, '')))[1]::text)
    FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(c, cond)
   WHERE e.extname = 'crm' AND cond = 'WHERE NOT builtin'
),
schema_acl AS (
  SELECT format('schema crm acl=%s', nspacl) FROM pg_namespace WHERE nspname = 'crm'
)
SELECT line FROM (
  SELECT 'member ' || line AS line FROM members
  UNION ALL SELECT * FROM cols UNION ALL SELECT * FROM rels UNION ALL SELECT * FROM cons
  UNION ALL SELECT * FROM idx UNION ALL SELECT * FROM funcs UNION ALL SELECT * FROM views
  UNION ALL SELECT * FROM trigs UNION ALL SELECT * FROM pols UNION ALL SELECT * FROM types
  UNION ALL SELECT * FROM config UNION ALL SELECT * FROM seeds UNION ALL SELECT * FROM schema_acl
) s ORDER BY line COLLATE "C";
