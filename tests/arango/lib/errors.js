// ArangoDB's error numbers and the HTTP status each one is answered with.
//
// Numbers and messages: lib/Basics/errors.dat in the ArangoDB repository.
// HTTP statuses: lib/Rest/GeneralResponse.cpp, GeneralResponse::responseCode
// (an error number not listed there is answered with 500). Both files were
// read from https://github.com/arangodb/arangodb (3.11 / devel branches).
'use strict';

// number -> [name, HTTP status, message]
const TABLE = {
  4: ['ERROR_INTERNAL', 500, 'internal error'],
  9: ['ERROR_NOT_IMPLEMENTED', 501, 'not implemented'],
  10: ['ERROR_BAD_PARAMETER', 400, 'bad parameter'],
  11: ['ERROR_FORBIDDEN', 403, 'forbidden'],
  17: ['ERROR_TYPE_ERROR', 400, 'type error'],
  18: ['ERROR_LOCK_TIMEOUT', 500, 'lock timeout'],
  28: ['ERROR_LOCKED', 500, 'locked'],
  32: ['ERROR_RESOURCE_LIMIT', 500, 'resource limit exceeded'],
  401: ['ERROR_HTTP_UNAUTHORIZED', 401, 'unauthorized'],
  404: ['ERROR_HTTP_NOT_FOUND', 404, 'not found'],
  405: ['ERROR_HTTP_METHOD_NOT_ALLOWED', 405, 'method not supported'],
  600: ['ERROR_HTTP_CORRUPTED_JSON', 400, 'invalid JSON object'],
  1200: ['ERROR_ARANGO_CONFLICT', 409, 'conflict'],
  1202: ['ERROR_ARANGO_DOCUMENT_NOT_FOUND', 404, 'document not found'],
  1203: ['ERROR_ARANGO_DATA_SOURCE_NOT_FOUND', 404, 'collection or view not found'],
  1205: ['ERROR_ARANGO_DOCUMENT_HANDLE_BAD', 400, 'illegal document identifier'],
  1207: ['ERROR_ARANGO_DUPLICATE_NAME', 409, 'duplicate name'],
  1208: ['ERROR_ARANGO_ILLEGAL_NAME', 400, 'illegal name'],
  1210: ['ERROR_ARANGO_UNIQUE_CONSTRAINT_VIOLATED', 409, 'unique constraint violated'],
  1212: ['ERROR_ARANGO_INDEX_NOT_FOUND', 404, 'index not found'],
  1221: ['ERROR_ARANGO_DOCUMENT_KEY_BAD', 400, 'illegal document key'],
  1222: ['ERROR_ARANGO_DOCUMENT_KEY_UNEXPECTED', 400, 'unexpected document key'],
  1226: ['ERROR_ARANGO_DOCUMENT_KEY_MISSING', 400, 'missing document key'],
  1227: ['ERROR_ARANGO_DOCUMENT_TYPE_INVALID', 400, 'invalid document type'],
  1228: ['ERROR_ARANGO_DATABASE_NOT_FOUND', 404, 'database not found'],
  1229: ['ERROR_ARANGO_DATABASE_NAME_INVALID', 400, 'database name invalid'],
  1230: ['ERROR_ARANGO_USE_SYSTEM_DATABASE', 403, 'operation only allowed in system database'],
  1233: ['ERROR_ARANGO_INVALID_EDGE_ATTRIBUTE', 400, 'edge attribute missing or invalid'],
  1237: ['ERROR_ARANGO_COLLECTION_TYPE_MISMATCH', 400, 'collection type mismatch'],
  1501: ['ERROR_QUERY_PARSE', 400, 'syntax error'],
  1502: ['ERROR_QUERY_EMPTY', 400, 'query is empty'],
  1504: ['ERROR_QUERY_NUMBER_OUT_OF_RANGE', 400, 'number out of range'],
  1510: ['ERROR_QUERY_VARIABLE_NAME_INVALID', 400, "variable name '%s' has an invalid format"],
  1511: ['ERROR_QUERY_VARIABLE_REDECLARED', 400, "variable '%s' is assigned multiple times"],
  1512: ['ERROR_QUERY_VARIABLE_NAME_UNKNOWN', 400, "unknown variable '%s'"],
  1521: ['ERROR_QUERY_COLLECTION_LOCK_FAILED', 500, 'unable to read-lock collection %s'],
  1540: ['ERROR_QUERY_FUNCTION_NAME_UNKNOWN', 400, "usage of unknown function '%s()'"],
  1541: ['ERROR_QUERY_FUNCTION_ARGUMENT_NUMBER_MISMATCH', 400, "invalid number of arguments for function '%s()'"],
  1542: ['ERROR_QUERY_FUNCTION_ARGUMENT_TYPE_MISMATCH', 400, "invalid argument type in call to function '%s()'"],
  1543: ['ERROR_QUERY_INVALID_REGEX', 400, 'invalid regex value'],
  1550: ['ERROR_QUERY_BIND_PARAMETERS_INVALID', 400, 'invalid structure of bind parameters'],
  1551: ['ERROR_QUERY_BIND_PARAMETER_MISSING', 400, "no value specified for declared bind parameter '%s'"],
  1552: ['ERROR_QUERY_BIND_PARAMETER_UNDECLARED', 400, "bind parameter '%s' was not declared in the query"],
  1553: ['ERROR_QUERY_BIND_PARAMETER_TYPE', 400, "bind parameter '%s' has an invalid value or type"],
  1561: ['ERROR_QUERY_INVALID_ARITHMETIC_VALUE', 400, 'invalid arithmetic value'],
  1562: ['ERROR_QUERY_DIVISION_BY_ZERO', 400, 'division by zero'],
  1563: ['ERROR_QUERY_ARRAY_EXPECTED', 400, 'array expected'],
  1568: ['ERROR_QUERY_COLLECTION_USED_IN_EXPRESSION', 400, "collection '%s' used as expression operand"],
  1569: ['ERROR_QUERY_FAIL_CALLED', 400, 'FAIL(%s) called'],
  1573: ['ERROR_QUERY_MULTI_MODIFY', 400, 'multi-modify query'],
  1574: ['ERROR_QUERY_INVALID_AGGREGATE_EXPRESSION', 500, 'invalid aggregate expression'],
  1575: ['ERROR_QUERY_COMPILE_TIME_OPTIONS', 400, 'query options must be readable at query compile time'],
  1579: ['ERROR_QUERY_ACCESS_AFTER_MODIFICATION', 400, 'access after data-modification by %s'],
  1600: ['ERROR_CURSOR_NOT_FOUND', 404, 'cursor not found'],
  1601: ['ERROR_CURSOR_BUSY', 409, 'cursor is busy'],
  1620: ['ERROR_VALIDATION_FAILED', 400, 'schema validation failed'],
  1621: ['ERROR_VALIDATION_BAD_PARAMETER', 400, 'invalid schema validation parameter'],
  1650: ['ERROR_TRANSACTION_INTERNAL', 500, 'internal transaction error'],
  1652: ['ERROR_TRANSACTION_UNREGISTERED_COLLECTION', 400, 'unregistered collection used in transaction'],
  1653: ['ERROR_TRANSACTION_DISALLOWED_OPERATION', 400, 'disallowed operation inside transaction'],
  1654: ['ERROR_TRANSACTION_ABORTED', 410, 'transaction aborted'],
  1655: ['ERROR_TRANSACTION_NOT_FOUND', 404, 'transaction not found'],
  1901: ['ERROR_GRAPH_INVALID_GRAPH', 400, 'invalid graph'],
  1922: ['ERROR_GRAPH_CREATE_MISSING_NAME', 400, 'missing graph name'],
  1923: ['ERROR_GRAPH_CREATE_MALFORMED_EDGE_DEFINITION', 400, 'malformed edge definition'],
  1924: ['ERROR_GRAPH_NOT_FOUND', 404, "graph '%s' not found"],
  1925: ['ERROR_GRAPH_DUPLICATE', 409, 'graph already exists'],
  1944: ['ERROR_GRAPH_EDGE_DEFINITION_IS_DOCUMENT', 400, 'edge definition collection is a document collection'],
};

/** An error the server answers with; `errorNum` is ArangoDB's number. */
class ArangoError extends Error {
  constructor(num, message, extra) {
    super(message);
    this.errorNum = num;
    this.code = httpStatus(num);
    if (extra) Object.assign(this, extra);
  }

  /** The JSON body ArangoDB sends for this error. */
  body() {
    return { error: true, code: this.code, errorNum: this.errorNum, errorMessage: this.message };
  }
}

/** The HTTP status ArangoDB answers error `num` with. */
function httpStatus(num) {
  const e = TABLE[num];
  if (e) return e[1];
  // GeneralResponse::responseCode: plain HTTP codes map to themselves.
  if (num >= 400 && num < 600) return num;
  return 500;
}

/** The error `num`, its message template filled with `args` (or `message`). */
function arangoError(num, ...args) {
  const e = TABLE[num];
  let message = e ? e[2] : `error ${num}`;
  if (args.length === 1 && typeof args[0] === 'string' && !message.includes('%s')) {
    message = args[0];
  } else {
    for (const a of args) message = message.replace('%s', String(a));
  }
  return new ArangoError(num, message);
}

/** The error `num` with a message of our own. */
function withMessage(num, message, extra) {
  return new ArangoError(num, message, extra);
}

/** Whether `num` is known to the table (for tests). */
function known(num) {
  return Object.prototype.hasOwnProperty.call(TABLE, num);
}

/** The symbolic name of `num` (e.g. ERROR_ARANGO_CONFLICT). */
function nameOf(num) {
  return TABLE[num] ? TABLE[num][0] : `ERROR_${num}`;
}

module.exports = { ArangoError, arangoError, withMessage, httpStatus, known, nameOf, TABLE };
