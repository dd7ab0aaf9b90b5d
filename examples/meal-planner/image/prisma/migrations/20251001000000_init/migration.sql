CREATE TABLE "Recipe" (
  "id" SERIAL PRIMARY KEY,
  "title" TEXT NOT NULL,
  "minutes" INTEGER NOT NULL
);
CREATE TABLE "MealPlan" (
  "id" SERIAL PRIMARY KEY,
  "weekStart" DATE NOT NULL,
  "createdAt" TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO "Recipe" ("title", "minutes") VALUES ('Shakshuka', 25), ('Lentil soup', 40), ('Overnight oats', 5);
