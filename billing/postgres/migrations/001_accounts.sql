-- placeholder, replaced by the billing schema
SELECT 1;
