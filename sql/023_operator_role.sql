-- The night-shift position of a small centre: one person takes the calls and
-- dispatches the units. `operator` may do what a call-taker and a dispatcher may,
-- and no more (the route table in dispatch/web/auth.py says so cell by cell).
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN
    ('call_taker', 'dispatcher', 'operator', 'supervisor', 'responder', 'admin'));
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN
    ('call_taker', 'dispatcher', 'operator', 'supervisor', 'responder', 'admin',
     'telephony'));
