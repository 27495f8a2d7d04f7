// Package password hashes and checks account passwords: argon2id in PHC
// string form, compared in constant time, with a cap on how many hashes run
// at once (each costs 19 MiB), and the password policy (length, common
// passwords).
package password
