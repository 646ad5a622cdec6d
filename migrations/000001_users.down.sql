DROP TRIGGER IF EXISTS users_protect_root ON users;
DROP FUNCTION IF EXISTS users_protect_root();
DROP TABLE IF EXISTS users;
