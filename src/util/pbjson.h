/* The one JSON <-> protobuf converter, driven by protobuf-c descriptors and
 * following the proto3 JSON mapping: lowerCamelCase names on output, both
 * lowerCamelCase and the proto field name accepted on input; maps as
 * objects; enums by name (numbers accepted on input); 64-bit integers as
 * strings on output (strings or numbers accepted); bytes as base64. */
#ifndef OCID_UTIL_PBJSON_H
#define OCID_UTIL_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "util/err.h"

/* Builds a message of type desc from json (an object). Unknown fields, wrong
 * types and out-of-range numbers are INVALID_ARGUMENT errors naming the field
 * path ("config.metadata.attempt: expected an integer"). The result is
 * malloc'd throughout; free it with protobuf_c_message_free_unpacked(m, NULL). */
int pbjson_to_message(const ProtobufCMessageDescriptor *desc, json_t *json,
		      ProtobufCMessage **out, ocid_error **err);

/* Emits every field, defaults included, so scripts can rely on keys being
 * there; except that a NULL sub-message is omitted (not null), only the set
 * member of a oneof appears, and fields with explicit presence appear only
 * when set. Returns a new reference, or NULL on allocation failure. */
json_t *pbjson_from_message(const ProtobufCMessage *msg);

#endif
