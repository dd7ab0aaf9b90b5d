-- since: 2
ALTER TABLE "Recipe" ADD COLUMN "cuisine" TEXT NOT NULL DEFAULT 'unspecified';
