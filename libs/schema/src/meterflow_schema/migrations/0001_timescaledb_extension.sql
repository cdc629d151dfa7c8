-- TimescaleDB when the server offers it, plain PostgreSQL otherwise.
-- Every later migration asks pg_extension (installed in THIS database), not pg_available_extensions:
-- a package can be installed but unusable (not in shared_preload_libraries, or no privilege to create it),
-- and then we fall back to plain PostgreSQL with a WARNING instead of failing the deployment.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'timescaledb is available but could not be created (%): continuing on plain PostgreSQL',
                SQLERRM
                USING HINT = 'add timescaledb to shared_preload_libraries, or create the extension as a superuser';
        END;
    END IF;
END
$$;
