\set id random(1, 10000)
SELECT name, email FROM users WHERE id = :id;
