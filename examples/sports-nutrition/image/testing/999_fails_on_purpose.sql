-- Shipped only by a *bad-migration* test version: fails, so the deploy must stop before traffic moves.
DO $$ BEGIN RAISE EXCEPTION 'wsx stand-in: migration 999_fails_on_purpose fails on purpose'; END $$;
