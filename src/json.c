/*
 * json.c
 *	  The peers' JSON, read with jansson.  This translation unit must not
 *	  include utils/builtins.h: the server's json_object() and jansson's
 *	  would collide (jansson is linked statically with hidden symbols, see
 *	  README "Building").  jansson allocates with palloc here, so a parse
 *	  that fails half-way leaves nothing behind once its memory context goes.
 */
#include "postgres.h"

#include <jansson.h>

#include "lib/stringinfo.h"

#include "json.h"

static void *
JsonAlloc(size_t size)
{
	return palloc(size == 0 ? 1 : size);
}

static void
JsonFree(void *ptr)
{
	if (ptr != NULL)
		pfree(ptr);
}

void
JsonInit(void)
{
	json_set_alloc_funcs(JsonAlloc, JsonFree);
}

static json_t *
JsonParse(const char *body, size_t len, char **error)
{
	json_error_t jerr;
	json_t	   *root;

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		*error = psprintf("malformed JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
	return root;
}

/* A string member as a palloc'd string ("" when absent or null). */
static char *
GetString(json_t *obj, const char *key)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return pstrdup("");
	if (json_is_string(v))
		return pnstrdup(json_string_value(v), json_string_length(v));
	if (json_is_integer(v))
		return psprintf(INT64_FORMAT, (int64) json_integer_value(v));
	return NULL;				/* of the wrong type */
}

/* An integer member, also from a numeric string; false if neither. */
static bool
GetInt64(json_t *obj, const char *key, int64 *out)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
	{
		*out = 0;
		return true;
	}
	if (json_is_integer(v))
	{
		*out = (int64) json_integer_value(v);
		return true;
	}
	if (json_is_string(v))
	{
		const char *s = json_string_value(v);
		char	   *end;
		long long	n;

		if (*s == '\0')
		{
			*out = 0;
			return true;
		}
		errno = 0;
		n = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0')
		{
			*out = (int64) n;
			return true;
		}
	}
	return false;
}

char *
JsonMikoCdrPage(const char *body, size_t len, CrmCdrPage *page)
{
	char	   *error = NULL;
	json_t	   *root;
	json_t	   *data;
	json_t	   *records;
	json_t	   *pagination;
	size_t		i;

	memset(page, 0, sizeof(*page));
	root = JsonParse(body, len, &error);
	if (root == NULL)
		return error;
	if (!json_is_object(root) || !json_is_true(json_object_get(root, "result")))
	{
		json_decref(root);
		return pstrdup("the answer is not {\"result\": true, ...}");
	}
	data = json_object_get(root, "data");
	records = data ? json_object_get(data, "records") : NULL;
	if (!json_is_object(data) || !json_is_array(records))
	{
		json_decref(root);
		return pstrdup("the answer has no data.records array");
	}
	page->nrecords = (int) json_array_size(records);
	page->records = palloc0(sizeof(CrmCdr) * Max(page->nrecords, 1));
	for (i = 0; i < json_array_size(records); i++)
	{
		json_t	   *r = json_array_get(records, i);
		CrmCdr	   *c = &page->records[i];
		int64		n;

		if (!json_is_object(r))
		{
			error = psprintf("record %zu is not an object", i);
			break;
		}
		if (!GetInt64(r, "id", &c->id) || c->id <= 0)
		{
			error = psprintf("record %zu has no valid id", i);
			break;
		}
		c->linkedid = GetString(r, "linkedid");
		c->start = GetString(r, "start");
		c->answer = GetString(r, "answer");
		c->endtime = GetString(r, "endtime");
		c->src_num = GetString(r, "src_num");
		c->dst_num = GetString(r, "dst_num");
		c->did = GetString(r, "did");
		c->disposition = GetString(r, "disposition");
		c->recordingfile = GetString(r, "recordingfile");
		if (!c->linkedid || !c->start || !c->answer || !c->endtime || !c->src_num || !c->dst_num ||
			!c->did || !c->disposition || !c->recordingfile)
		{
			error = psprintf("record %zu (id " INT64_FORMAT ") has a field of the wrong type", i, c->id);
			break;
		}
		if (!GetInt64(r, "duration", &n) || n < 0 || n > PG_INT32_MAX)
		{
			error = psprintf("record %zu (id " INT64_FORMAT ") has an invalid duration", i, c->id);
			break;
		}
		c->duration = (int) n;
		if (!GetInt64(r, "billsec", &n) || n < 0 || n > PG_INT32_MAX)
		{
			error = psprintf("record %zu (id " INT64_FORMAT ") has an invalid billsec", i, c->id);
			break;
		}
		c->billsec = (int) n;
	}
	if (error == NULL)
	{
		json_t	   *more;
		int64		total = 0;

		pagination = json_object_get(data, "pagination");
		more = pagination ? json_object_get(pagination, "hasMore") : NULL;
		if (!json_is_object(pagination) || !json_is_boolean(more))
			error = pstrdup("the answer has no data.pagination.hasMore");
		else
		{
			page->has_more = json_is_true(more);
			if (!GetInt64(pagination, "total", &total))
				error = pstrdup("data.pagination.total is not a number");
			page->total = total;
		}
	}
	json_decref(root);
	return error;
}

char *
JsonMikoMessage(const char *body, size_t len)
{
	char	   *error = NULL;
	json_t	   *root = JsonParse(body, len, &error);
	json_t	   *messages;
	json_t	   *errors;
	StringInfoData buf;
	size_t		i;

	if (root == NULL)
		return NULL;
	messages = json_is_object(root) ? json_object_get(root, "messages") : NULL;
	errors = json_is_object(messages) ? json_object_get(messages, "error") : NULL;
	if (!json_is_array(errors) || json_array_size(errors) == 0)
	{
		json_decref(root);
		return NULL;
	}
	initStringInfo(&buf);
	for (i = 0; i < json_array_size(errors); i++)
	{
		json_t	   *e = json_array_get(errors, i);

		if (json_is_string(e))
			appendStringInfo(&buf, "%s%s", buf.len ? "; " : "", json_string_value(e));
	}
	json_decref(root);
	return buf.len ? buf.data : NULL;
}

char *
JsonMailchimpBatch(const char *body, size_t len, CrmBatchResult *result)
{
	char	   *error = NULL;
	json_t	   *root;
	json_t	   *errors;
	int64		n;
	size_t		i;

	memset(result, 0, sizeof(*result));
	root = JsonParse(body, len, &error);
	if (root == NULL)
		return error;
	if (!json_is_object(root))
	{
		json_decref(root);
		return pstrdup("the answer is not an object");
	}
	errors = json_object_get(root, "errors");
	if (errors != NULL && !json_is_array(errors))
		error = pstrdup("errors is not an array");
	else if (!json_is_array(json_object_get(root, "new_members")) ||
			 !json_is_array(json_object_get(root, "updated_members")))
		error = pstrdup("the answer has no new_members and updated_members arrays");
	else if (!GetInt64(root, "total_created", &n) || n < 0 || n > PG_INT32_MAX)
		error = pstrdup("total_created is not a count");
	else
	{
		result->total_created = (int) n;
		if (!GetInt64(root, "total_updated", &n) || n < 0 || n > PG_INT32_MAX)
			error = pstrdup("total_updated is not a count");
		else
		{
			result->total_updated = (int) n;
			if (!GetInt64(root, "error_count", &n) || n < 0 || n > PG_INT32_MAX)
				error = pstrdup("error_count is not a count");
			else
				result->error_count = (int) n;
		}
	}
	if (error == NULL && errors != NULL)
	{
		result->nerrors = (int) json_array_size(errors);
		result->errors = palloc0(sizeof(CrmMemberError) * Max(result->nerrors, 1));
		for (i = 0; i < json_array_size(errors); i++)
		{
			json_t	   *e = json_array_get(errors, i);
			CrmMemberError *m = &result->errors[i];

			if (!json_is_object(e))
			{
				error = psprintf("errors[%zu] is not an object", i);
				break;
			}
			m->email = GetString(e, "email_address");
			m->error = GetString(e, "error");
			m->code = GetString(e, "error_code");
			m->field = GetString(e, "field");
			if (!m->email || !m->error || !m->code || !m->field || m->email[0] == '\0')
			{
				error = psprintf("errors[%zu] has no email_address, error and error_code strings", i);
				break;
			}
			{
				char	   *fm = GetString(e, "field_message");

				if (m->field[0] == '\0')
					m->field = NULL;
				else if (fm && fm[0] != '\0')
					m->error = psprintf("%s (%s: %s)", m->error, m->field, fm);
			}
			if (m->code[0] == '\0')
				m->code = pstrdup("ERROR_GENERIC");
		}
	}
	json_decref(root);
	return error;
}

char *
JsonMailchimpMessage(const char *body, size_t len)
{
	char	   *error = NULL;
	json_t	   *root = JsonParse(body, len, &error);
	char	   *title;
	char	   *detail;
	char	   *out = NULL;

	if (root == NULL)
		return NULL;
	if (json_is_object(root))
	{
		title = GetString(root, "title");
		detail = GetString(root, "detail");
		if (title && detail && (title[0] || detail[0]))
			out = psprintf("%s%s%s", title, (title[0] && detail[0]) ? ": " : "", detail);
	}
	json_decref(root);
	return out;
}
