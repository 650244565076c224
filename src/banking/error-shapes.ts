/**
 * The shapes of error bodies banks send, each read into a list of codes. A standard's error
 * dialect (its adapter folder) reads its own shape first and, where its banks are known to be
 * inconsistent, the other shapes after it; nothing here is tied to one standard.
 */

/** An error body reader: the codes a parsed JSON object carries, most important first. */
export type ErrorCodeReader = (body: Record<string, unknown>) => string[];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/**
 * `tppMessages[{ category, code, text, path }]` (ERROR before WARNING), or the RFC 7807 variant
 * `{ type, title, detail, code, additionalErrors[{ code }] }` (NextGenPSD2 1.3.x).
 */
export const tppMessageCodes: ErrorCodeReader = (body) => {
  const out: string[] = [];
  const messages = Array.isArray(body.tppMessages) ? body.tppMessages.filter(isRecord) : [];
  const ordered = [...messages.filter((m) => m.category !== 'WARNING'), ...messages.filter((m) => m.category === 'WARNING')];
  for (const m of ordered) {
    const code = str(m.code);
    if (code) out.push(code);
  }
  const rfc7807 = str(body.code);
  if (rfc7807) out.push(rfc7807);
  if (Array.isArray(body.additionalErrors)) {
    for (const e of body.additionalErrors.filter(isRecord)) {
      const code = str(e.code);
      if (code) out.push(code);
    }
  }
  return out;
};

/**
 * `{ Code, Id, Message, Errors[{ ErrorCode, Message, Path }] }`: namespaced 3.1 codes or 4.0
 * four-letter codes; `Code` is free text in 3.1 (deprecated in 4.0), kept only when it is not a status line.
 */
export const errorsArrayCodes: ErrorCodeReader = (body) => {
  const out: string[] = [];
  if (Array.isArray(body.Errors)) {
    for (const e of body.Errors.filter(isRecord)) {
      const code = str(e.ErrorCode);
      if (code) out.push(code);
    }
  }
  // Free text in 3.1 ("400 BadRequest"); some banks put a code there.
  const high = str(body.Code);
  if (high && !/^\d{3}\b/.test(high)) out.push(high);
  return out;
};

/** `{ timestamp, status, error, message, path }` or the OAuth `{ error, error_description }`: `error` is the code. */
export const errorFieldCodes: ErrorCodeReader = (body) => {
  const error = str(body.error);
  return error ? [error] : [];
};

/** `{ summary, detail, type, status_code }`: its `type` is the code. */
export const typeFieldCodes: ErrorCodeReader = (body) => {
  const type = str(body.type);
  return type ? [type] : [];
};

/** Reads the shapes in order, each code once. */
export function readingInOrder(...readers: ErrorCodeReader[]): ErrorCodeReader {
  return (body) => {
    const codes: string[] = [];
    for (const read of readers) for (const code of read(body)) if (!codes.includes(code)) codes.push(code);
    return codes;
  };
}
