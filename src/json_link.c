/*
 * json_link.c
 *	  Lets jansson link statically into crm.so.  Debian's libjansson.a is
 *	  not built position-independent, and one of its references cannot be
 *	  held by a shared object: json_loadf() compares its argument with
 *	  stdin (only to call the source "<stdin>" in its messages).  This
 *	  hidden definition satisfies that reference inside crm.so; crm never
 *	  calls json_loadf(), and nothing else in crm.so uses stdin.  This file
 *	  includes no header, so that it does not meet stdio.h's declaration.
 */
struct _IO_FILE;

extern __attribute__((visibility("hidden"))) struct _IO_FILE *stdin;
__attribute__((visibility("hidden"))) struct _IO_FILE *stdin = 0;
