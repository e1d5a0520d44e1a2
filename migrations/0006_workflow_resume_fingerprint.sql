-- Who sent which decision under an idempotency key: a key reused for another decision, or by
-- another person, is refused instead of being answered with the first one's answer.
ALTER TABLE workflow_resumes ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
