import { createHash } from 'node:crypto';
import { isReplyError, type Commands } from './redis.connection.js';

/** @internal A Lua script and the SHA1 that EVALSHA knows it by. */
export interface Script {
  readonly source: string;
  readonly sha: string;
}

/** @internal */
export function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * @internal Applies a delta to one record atomically, without decoding any
 * session value. The record is one JSON object whose fields hold the JSON text
 * of each session key's value (see `encode`); the script
 * splits it into raw key and value string tokens (finding where each JSON
 * string ends, nothing more: escape pairs are blanked out with one gsub, then
 * each quote left is a token boundary), replaces, appends or drops tokens by
 * key, and joins them back byte for byte. cjson is never used: it rejects strings holding lone UTF-16 surrogates
 * and values nested deeper than 1000, would turn `[]` into `{}` and round
 * large integers.
 *
 * Returns 1 when applied, 0 when the record is missing (nothing is created, so
 * a destroyed session is never brought back), and -1 when the key holds
 * something unreadable (another type, or a string not in this format), which
 * the script removes. Each value is checked by its outer shape (first and last
 * character), not parsed; a value broken inside is caught by the next read.
 *
 * Names written by the cjson-based script of earlier versions may carry a
 * `\/` or `\u007f` escape; they are read as the plain `/` or DEL byte that
 * `JSON.stringify` writes.
 *
 * KEYS[1] the record; ARGV: 'EX' | 'PX', ttl, then what `deltaArgs` writes:
 * the number of fields to set, that many key/value token pairs
 * (`JSON.stringify(name)`, `JSON.stringify(JSON.stringify(value))`), then the
 * key tokens to remove (removed first, as in MemoryBackend, so a name in both
 * is set). With a KEYS[2] (`move`, single node: both keys in one slot), the result is
 * stored there and KEYS[1] removed, in the same atomic step.
 */
export const PATCH_SCRIPT = script(`
local raw = redis.pcall('GET', KEYS[1])
if not raw then return 0 end
local QUOTE, BACKSLASH = 34, 92
local SPACE_ESCAPES = { [116] = true, [110] = true, [114] = true }
local byte, find, sub, gsub = string.byte, string.find, string.sub, string.gsub
-- Escape pairs left to right (with up to four hex digits after them), so an
-- escaped backslash is never read as the start of another escape.
local ESCAPE = string.char(BACKSLASH) .. '(.)(%x?%x?%x?%x?)'
local function unescape_legacy(c, hex)
  if c == '/' then return '/' .. hex end
  if c == 'u' and string.lower(hex) == '007f' then return string.char(127) end
  return string.char(BACKSLASH) .. c .. hex
end
if type(raw) ~= 'string' then
  redis.call('UNLINK', KEYS[1])
  return -1
end
local n = #raw

-- The same text with every escape pair (a backslash and the byte after it)
-- blanked out, in one pass in C: each '"' left in it opens or closes a string.
local bare = string.gsub(raw, string.char(BACKSLASH) .. '.', '__')

-- Index just past the JSON string token that opens at i, or nil.
local function past_string(i)
  local q = find(bare, '"', i + 1, true)
  return q and q + 1
end

-- Whether the value token a..b (quotes included) can hold JSON text, judged by
-- its first and last characters past JSON whitespace (a space, or an escaped
-- tab, newline or carriage return).
local function plausible(a, b)
  local p, q = a + 1, b - 1
  while p <= q do
    local c = byte(raw, p)
    if c == 32 then p = p + 1
    elseif c == BACKSLASH and SPACE_ESCAPES[byte(raw, p + 1)] then p = p + 2
    else break end
  end
  while p <= q do
    local c = byte(raw, q)
    if c == 32 then q = q - 1
    elseif SPACE_ESCAPES[c] and byte(raw, q - 1) == BACKSLASH then q = q - 2
    else break end
  end
  if p > q then return false end
  local first, last = byte(raw, p), byte(raw, q)
  if first == 123 then return last == 125 end
  if first == 91 then return last == 93 end
  if first == BACKSLASH then
    return q - p >= 3 and byte(raw, p + 1) == QUOTE and last == QUOTE and byte(raw, q - 1) == BACKSLASH
  end
  if first == 45 or (first >= 48 and first <= 57) then return last >= 48 and last <= 57 end
  local word = sub(raw, p, q)
  return word == 'true' or word == 'false' or word == 'null'
end

local function skip(p)
  return find(raw, '%S', p) or n + 1
end

-- names[i] / values[i]: raw tokens in stored order; at[name] = i (the last
-- occurrence of a repeated name wins, as in JSON.parse).
local names, values, at = {}, {}, {}
local function parse()
  local p = skip(1)
  if byte(raw, p) ~= 123 then return false end
  p = skip(p + 1)
  if byte(raw, p) == 125 then return skip(p + 1) > n end
  while true do
    if byte(raw, p) ~= QUOTE then return false end
    local e = past_string(p)
    if not e then return false end
    local name = sub(raw, p, e - 1)
    if find(name, '/', 1, true) or find(name, '007', 1, true) then
      name = gsub(name, ESCAPE, unescape_legacy)
    end
    p = skip(e)
    if byte(raw, p) ~= 58 then return false end
    p = skip(p + 1)
    if byte(raw, p) ~= QUOTE then return false end
    e = past_string(p)
    if not e or not plausible(p, e - 1) then return false end
    local value = sub(raw, p, e - 1)
    if at[name] then
      values[at[name]] = value
    else
      names[#names + 1] = name
      values[#names] = value
      at[name] = #names
    end
    p = skip(e)
    local c = byte(raw, p)
    if c == 125 then return skip(p + 1) > n end
    if c ~= 44 then return false end
    p = skip(p + 1)
  end
end

if not parse() then
  redis.call('UNLINK', KEYS[1])
  return -1
end

local first_unset = 4 + 2 * tonumber(ARGV[3])
for i = first_unset, #ARGV do
  local k = at[ARGV[i]]
  if k then
    values[k] = false
    at[ARGV[i]] = nil
  end
end
for i = 4, first_unset - 1, 2 do
  local k = at[ARGV[i]]
  if k then
    values[k] = ARGV[i + 1]
  else
    names[#names + 1] = ARGV[i]
    values[#names] = ARGV[i + 1]
    at[ARGV[i]] = #names
  end
end

local parts = { '{' }
for i = 1, #names do
  if values[i] then
    if #parts > 1 then parts[#parts + 1] = ',' end
    parts[#parts + 1] = names[i]
    parts[#parts + 1] = ':'
    parts[#parts + 1] = values[i]
  end
end
parts[#parts + 1] = '}'
local target = KEYS[2] or KEYS[1]
redis.call('SET', target, table.concat(parts), ARGV[1], ARGV[2])
if target ~= KEYS[1] then redis.call('UNLINK', KEYS[1]) end
return 1
`);

/** @internal What PATCH_SCRIPT returns for a key holding something unreadable (which it removed). */
export const PATCH_UNREADABLE = -1;

/**
 * @internal Runs `script` with EVALSHA, falling back to EVAL (which also
 * caches it) the first time a server has not seen it.
 */
export async function runScript(
  redis: Pick<Commands, 'evalsha' | 'eval'>,
  { sha, source }: Script,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  try {
    return await redis.evalsha(sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!isReplyError(error, 'NOSCRIPT')) throw error;
    return await redis.eval(source, keys.length, ...keys, ...args);
  }
}
