// A form for an approval's arguments, built from their JSON schema (assistant/ui/editor.py).
//
// props: interruptId, action (the action to call), heading, schema (normalized: object,
// string, integer, number, boolean, array, json), args, error and errorAt (the server's
// reason for refusing the last edit, and where it applies, when known).
// Save calls the action with {interrupt_id, args}; Cancel with {interrupt_id, cancel: true}.
import { useEffect, useMemo, useState } from "react";
import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { Textarea } from "@/components/ui/textarea";
import { ArrowDown, ArrowUp, Plus, Trash2, X } from "lucide-react";

const LONG_TEXT = 500; // longer strings than this get a text area
const LONG_NAMES = /(description|text|content|body|prompt|brief|message|instructions|notes?)$/i;

function labelOf(schema, key) {
  if (schema && schema.title && !/^[A-Z][a-z]+[A-Z]/.test(schema.title)) return schema.title;
  const words = String(key).replace(/[_-]+/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function singular(label) {
  const word = String(label || "").toLowerCase();
  if (word.endsWith("ies")) return word.slice(0, -3) + "y";
  if (word.endsWith("s") && !word.endsWith("ss")) return word.slice(0, -1);
  return word || "item";
}

function isLong(schema, key) {
  return (schema.maxLength || 0) > LONG_TEXT || LONG_NAMES.test(String(key));
}

function blank(schema) {
  switch (schema.type) {
    case "object": {
      const value = {};
      for (const [key, child] of Object.entries(schema.properties || {})) {
        value[key] = child.type === "array" && !isObject(child.items) ? [""] : blank(child);
      }
      return value;
    }
    case "array":
      return [];
    case "boolean":
      return false;
    case "integer":
    case "number":
      return "";
    case "json":
      return null;
    default:
      return schema.enum ? schema.enum[0] : "";
  }
}

const isObject = (schema) => !!schema && schema.type === "object";
const sentence = (text) => {
  const trimmed = String(text || "").trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
};
const showFirstProblem = () =>
  setTimeout(() => {
    const first = document.querySelector(".args-editor [data-field] .args-editor-problem");
    if (first) first.scrollIntoView({ block: "center" });
  }, 50);
const keyOf = (path) => path.join(".");
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// Plain words for what is wrong with each field; {path: reason}.
function check(schema, value, path, required, problems) {
  const here = keyOf(path);
  if (schema.type === "object") {
    const needed = new Set(schema.required || []);
    for (const [key, child] of Object.entries(schema.properties || {})) {
      check(child, (value || {})[key], [...path, key], needed.has(key), problems);
    }
  } else if (schema.type === "array") {
    const items = Array.isArray(value) ? value : [];
    const noun = singular(labelOf(schema, path[path.length - 1]));
    if (schema.minItems && items.length < schema.minItems) {
      problems[here] = `Keep at least ${plural(schema.minItems, noun)}.`;
    } else if (schema.maxItems && items.length > schema.maxItems) {
      problems[here] = `Too many: at most ${plural(schema.maxItems, noun)} (now ${items.length}).`;
    }
    items.forEach((item, index) => check(schema.items || {}, item, [...path, index], true, problems));
  } else if (schema.type === "integer" || schema.type === "number") {
    if (value === "" || value === null || value === undefined) {
      if (required) problems[here] = "Enter a number.";
    } else if (Number.isNaN(Number(value)) || (schema.type === "integer" && !Number.isInteger(Number(value)))) {
      problems[here] = schema.type === "integer" ? "Enter a whole number." : "Enter a number.";
    }
  } else if (schema.type === "json") {
    if (typeof value === "string") {
      try {
        JSON.parse(value);
      } catch (error) {
        problems[here] = "This is not valid JSON.";
      }
    }
  } else if (schema.type === "string") {
    const text = typeof value === "string" ? value : "";
    if (!text.trim()) {
      if (required) {
        problems[here] = typeof path[path.length - 1] === "number"
          ? "This is empty: fill it in or remove it."
          : "This cannot be empty.";
      }
    } else if (schema.maxLength && text.length > schema.maxLength) {
      problems[here] = `Too long: at most ${schema.maxLength} characters (now ${text.length}).`;
    } else if (schema.minLength && text.trim().length < schema.minLength) {
      problems[here] = `Too short: at least ${schema.minLength} characters.`;
    }
  }
  return problems;
}

// The arguments to send: numbers as numbers, JSON parsed, empty optional fields left out.
function output(schema, value, required) {
  if (schema.type === "object") {
    const needed = new Set(schema.required || []);
    const result = {};
    for (const [key, child] of Object.entries(schema.properties || {})) {
      const out = output(child, (value || {})[key], needed.has(key));
      if (out !== undefined) result[key] = out;
    }
    return result;
  }
  if (schema.type === "array") {
    return (Array.isArray(value) ? value : []).map((item) => output(schema.items || {}, item, true));
  }
  if (schema.type === "integer" || schema.type === "number") {
    return value === "" || value === null || value === undefined ? undefined : Number(value);
  }
  if (schema.type === "json") {
    return typeof value === "string" ? JSON.parse(value) : value;
  }
  if (schema.type === "string" && typeof value === "string") {
    const text = value.trim();
    return text || required ? text : undefined;
  }
  return value;
}

function Problem({ text }) {
  if (!text) return null;
  return (
    <p className="args-editor-problem text-sm text-destructive" role="alert">
      {text}
    </p>
  );
}

function Field({ schema, value, path, label, hint, required, problems, onChange }) {
  const id = `args-${keyOf(path).replace(/\./g, "-")}`;
  const problem = problems[keyOf(path)];
  const invalid = problem ? "border-destructive" : "";
  const caption = label ? (
    <label htmlFor={id} className="text-sm font-medium">
      {label}
      {required ? "" : <span className="text-muted-foreground"> (optional)</span>}
    </label>
  ) : null;
  const help = hint ? <p className="text-xs text-muted-foreground">{hint}</p> : null;

  if (schema.type === "object") {
    return (
      <ObjectFields schema={schema} value={value || {}} path={path} problems={problems} onChange={onChange} />
    );
  }
  if (schema.type === "array") {
    return (
      <div className="flex flex-col gap-2" data-field={keyOf(path)}>
        {caption}
        {help}
        <ArrayField schema={schema} value={Array.isArray(value) ? value : []} path={path} label={label}
          problems={problems} onChange={onChange} />
        <Problem text={problem} />
      </div>
    );
  }
  let control;
  if (schema.type === "boolean") {
    control = (
      <input id={id} type="checkbox" checked={!!value} onChange={(e) => onChange(path, e.target.checked)} />
    );
  } else if (schema.enum) {
    control = (
      <select id={id} className="args-editor-select" value={value ?? ""}
        onChange={(e) => onChange(path, e.target.value)}>
        {schema.enum.map((option) => (
          <option key={String(option)} value={option}>{String(option)}</option>
        ))}
      </select>
    );
  } else if (schema.type === "json") {
    control = (
      <Textarea id={id} className={`font-mono ${invalid}`} rows={4}
        value={typeof value === "string" ? value : JSON.stringify(value ?? null, null, 2)}
        onChange={(e) => onChange(path, e.target.value)} />
    );
  } else if (schema.type === "string" && isLong(schema, path[path.length - 1])) {
    control = (
      <Textarea id={id} className={invalid} rows={2} value={value ?? ""}
        onChange={(e) => onChange(path, e.target.value)} />
    );
  } else {
    control = (
      <Input id={id} className={invalid} value={value ?? ""}
        inputMode={schema.type === "string" ? undefined : "decimal"}
        onChange={(e) => onChange(path, e.target.value)} />
    );
  }
  return (
    <div className="flex flex-col gap-1" data-field={keyOf(path)}>
      {caption}
      {control}
      {help}
      <Problem text={problem} />
    </div>
  );
}

function ObjectFields({ schema, value, path, problems, onChange }) {
  const needed = new Set(schema.required || []);
  return (
    <div className="flex flex-col gap-3">
      {Object.entries(schema.properties || {}).map(([key, child]) => (
        <Field key={key} schema={child} value={value[key]} path={[...path, key]} label={labelOf(child, key)}
          hint={child.type === "object" ? null : child.description} required={needed.has(key)}
          problems={problems} onChange={onChange} />
      ))}
    </div>
  );
}

function ArrayField({ schema, value, path, label, problems, onChange }) {
  const item = schema.items || { type: "string" };
  const noun = singular(label);
  const set = (next) => onChange(path, next);
  const add = () => set([...value, blank(item)]);
  const remove = (index) => set(value.filter((_, i) => i !== index));
  const move = (index, by) => {
    const next = [...value];
    const [moved] = next.splice(index, 1);
    next.splice(index + by, 0, moved);
    set(next);
  };
  const addButton = (
    <div>
      <Button type="button" variant="outline" size="sm" onClick={add}
        disabled={!!schema.maxItems && value.length >= schema.maxItems}>
        <Plus className="h-4 w-4" /> Add {noun}
      </Button>
    </div>
  );

  if (isObject(item)) {
    const first = Object.entries(item.properties || {}).find(([, child]) => child.type === "string");
    return (
      <div className="flex flex-col gap-3">
        {value.map((entry, index) => (
          <div key={index} className="args-editor-card rounded-lg border p-3 flex flex-col gap-3"
            data-item={keyOf([...path, index])}>
            <div className="flex items-center justify-between gap-2">
              <span className="text-sm font-semibold min-w-0">
                {noun.charAt(0).toUpperCase() + noun.slice(1)} {index + 1}
                {first && entry && entry[first[0]] ? `: ${entry[first[0]]}` : ""}
              </span>
              <span className="flex items-center gap-1 shrink-0">
                <Button type="button" variant="ghost" size="icon" className="h-8 w-8"
                  aria-label={`Move ${noun} ${index + 1} up`} disabled={index === 0}
                  onClick={() => move(index, -1)}>
                  <ArrowUp className="h-4 w-4" />
                </Button>
                <Button type="button" variant="ghost" size="icon" className="h-8 w-8"
                  aria-label={`Move ${noun} ${index + 1} down`} disabled={index === value.length - 1}
                  onClick={() => move(index, 1)}>
                  <ArrowDown className="h-4 w-4" />
                </Button>
                <Button type="button" variant="ghost" size="icon" className="h-8 w-8"
                  aria-label={`Remove ${noun} ${index + 1}`} onClick={() => remove(index)}>
                  <Trash2 className="h-4 w-4" />
                </Button>
              </span>
            </div>
            <ObjectFields schema={item} value={entry || {}} path={[...path, index]} problems={problems}
              onChange={onChange} />
          </div>
        ))}
        {addButton}
      </div>
    );
  }
  return (
    <div className="flex flex-col gap-2">
      {value.map((entry, index) => {
        const here = [...path, index];
        const id = `args-${keyOf(here).replace(/\./g, "-")}`;
        const problem = problems[keyOf(here)];
        return (
          <div key={index} className="flex flex-col gap-1" data-field={keyOf(here)}>
            <div className="flex items-center gap-2">
              <Input id={id} aria-label={`${labelOf(schema, path[path.length - 1])} ${index + 1}`}
                className={problem ? "border-destructive" : ""} value={entry ?? ""}
                onChange={(e) => onChange(here, e.target.value)} />
              <Button type="button" variant="ghost" size="icon" className="h-8 w-8 shrink-0"
                aria-label={`Remove ${noun} ${index + 1}`} onClick={() => remove(index)}>
                <X className="h-4 w-4" />
              </Button>
            </div>
            <Problem text={problem} />
          </div>
        );
      })}
      {addButton}
    </div>
  );
}

function setAt(value, path, next) {
  if (!path.length) return next;
  const [head, ...rest] = path;
  const copy = Array.isArray(value) ? [...value] : { ...(value || {}) };
  copy[head] = setAt(copy[head], rest, next);
  return copy;
}

// The server's refusal goes next to the deepest field its location names, else on top.
function placeServerError(schema, errorAt, value) {
  const path = Array.isArray(errorAt) ? [...errorAt] : [];
  const known = new Set();
  const walk = (node, at, current) => {
    known.add(keyOf(at));
    if (node.type === "object") {
      for (const [key, child] of Object.entries(node.properties || {})) {
        walk(child, [...at, key], (current || {})[key]);
      }
    } else if (node.type === "array" && Array.isArray(current)) {
      current.forEach((item, index) => walk(node.items || {}, [...at, index], item));
    }
  };
  walk(schema, [], value);
  while (path.length) {
    if (known.has(keyOf(path))) return keyOf(path);
    path.pop();
  }
  return "";
}

export default function ArgsEditor() {
  const schema = props.schema || { type: "object", properties: {} };
  const [value, setValue] = useState(() => JSON.parse(JSON.stringify(props.args || {})));
  const serverAt = useMemo(() => placeServerError(schema, props.errorAt, props.args), []);
  const [serverError, setServerError] = useState(
    props.error ? { at: serverAt, text: sentence(props.error) } : null
  );
  useEffect(() => {
    if (serverAt) showFirstProblem();
  }, []);
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState("");

  const problems = tried ? check(schema, value, [], true, {}) : {};
  if (serverError && serverError.at && !problems[serverError.at]) {
    problems[serverError.at] = serverError.text;
  }
  const count = Object.keys(problems).length;

  const onChange = (path, next) => {
    setValue((current) => setAt(current, path, next));
    if (serverError && serverError.at && keyOf(path).startsWith(serverError.at)) setServerError(null);
    setNotice("");
  };

  const call = async (payload) => {
    setBusy(true);
    setNotice("");
    try {
      const answer = await callAction({ name: props.action, payload });
      const refused = answer && answer.response && answer.response.refused;
      if (refused) setNotice(refused);
    } catch (error) {
      setNotice("That did not reach the server: check the connection and try again.");
    } finally {
      setBusy(false);
    }
  };

  const save = () => {
    setTried(true);
    if (Object.keys(check(schema, value, [], true, {})).length) {
      showFirstProblem();
      return;
    }
    call({ interrupt_id: props.interruptId, args: output(schema, value, true) });
  };
  const cancel = () => call({ interrupt_id: props.interruptId, cancel: true });

  return (
    <div className="args-editor flex flex-col gap-4 rounded-lg border p-4 w-full" data-editor={props.interruptId}>
      {props.heading ? <p className="font-semibold">{props.heading}</p> : null}
      {serverError && !serverError.at ? <Problem text={serverError.text} /> : null}
      {count ? (
        <Problem text={count === 1 ? "One field needs a change (marked below)." : `${count} fields need a change (marked below).`} />
      ) : null}
      <ObjectFields schema={schema} value={value} path={[]} problems={problems} onChange={onChange} />
      {notice ? <Problem text={notice} /> : null}
      <div className="flex items-center gap-2">
        <Button type="button" onClick={save} disabled={busy}>Save and run</Button>
        <Button type="button" variant="outline" onClick={cancel} disabled={busy}>Cancel</Button>
      </div>
    </div>
  );
}
