// SQL fragments over a stored session's jsonb (see postgres.codec.ts for its
// shape): checking it is readable, and applying a delta to it server-side.

/**
 * @internal `data` is an object whose members are all `[position, json]` pairs (see
 * postgres.codec.ts). A CASE, so the path (an error on anything but an
 * object in strict mode) only runs on an object, whatever order the planner
 * gives the conditions around it.
 */
export const readable = (data: string) =>
  `(CASE WHEN jsonb_typeof(${data}) = 'object' THEN NOT jsonb_path_exists(${data}, ` +
  `'strict $.* ? (@.type() != "array" || @.size() != 2 || @[0].type() != "number" || @[1].type() != "string")') ` +
  `ELSE false END)`;

/**
 * @internal `data` with a delta applied, server-side and without decoding a value:
 * members named in $3 removed, then members $4 set to the JSON texts $5. A
 * key already there keeps its position; a new one goes after the last.
 */
export const patched = (data: string) => `(${data} - $3::text[]) || coalesce((
      SELECT jsonb_object_agg(d.name, jsonb_build_array(
        coalesce((${data} - $3::text[]) -> d.name -> 0, to_jsonb(top.n + d.i)), d.value))
      FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS d(name, value, i),
        (SELECT coalesce(max((e.value ->> 0)::numeric), 0) AS n FROM jsonb_each(${data}) AS e) AS top
    ), '{}'::jsonb)`;
