-- A charge day may be any day of the month: one past the end of a shorter
-- month falls on its last day (billing.Account.NextChargeDate), as
-- billings charge a contract signed on the 31st.
ALTER TABLE accounts DROP CONSTRAINT IF EXISTS accounts_charge_day_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_charge_day_check CHECK (charge_day BETWEEN 1 AND 31);
