/** XML for the local endpoints that answer in it (S3's REST-XML, ELBv2's Query protocol). */

export function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A value as XML: a record's fields as elements, an array as `<member>` items (the Query protocol's lists). */
export type XmlValue = string | number | boolean | undefined | XmlValue[] | { [name: string]: XmlValue };

export function xmlElements(fields: Record<string, XmlValue>): string {
  return Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `<${name}>${xmlContent(value)}</${name}>`)
    .join('');
}

function xmlContent(value: XmlValue): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map((item) => `<member>${xmlContent(item)}</member>`).join('');
  if (typeof value === 'object') return xmlElements(value);
  return xmlEscape(String(value));
}

/** The text of the first `<name>` element of a small request body, unescaped; undefined when absent. */
export function xmlText(body: string, name: string): string | undefined {
  const match = new RegExp(`<${name}(?:\\s[^>]*)?>([^<]*)</${name}>`).exec(body);
  if (match?.[1] === undefined) return undefined;
  return match[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}
