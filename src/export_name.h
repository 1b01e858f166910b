/*
 * export_name.h
 *	  First and last name for a mailing from a full name as people write it
 *	  (pure C, no server headers: also built into the fuzz harness).
 */
#ifndef EXPORT_NAME_H
#define EXPORT_NAME_H

#include <stddef.h>

/*
 * Splits the UTF-8 full name in[0..len) into a first name (with the
 * patronymic, the Russian polite form of address) and a last name, written
 * NUL-terminated to first and last, each of which must hold len + 1 bytes.
 * Words are separated by any run of spaces, tabs, line breaks or no-break
 * spaces; the output words are joined by one space.  Rules:
 *   "Иванов Иван Иванович"  -> "Иван Иванович" / "Иванов"
 *   "Иван Иванович Иванов"  -> "Иван Иванович" / "Иванов"
 *   "Иванова Анна"          -> "Анна" / "Иванова"   (a surname ending first)
 *   "Анна Иванова", "Anna Smith", "Anna Maria Smith" -> first word / the rest
 *   one word                -> that word / ""
 */
extern void crm_split_person_name(const char *in, size_t len, char *first, char *last);

#endif							/* EXPORT_NAME_H */
