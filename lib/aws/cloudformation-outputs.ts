/**
 * A stack's outputs, read with CloudFormation's DescribeStacks (Query protocol, SigV4-signed with
 * the caller's credentials). A small adapter of its own: the CLI needs this one read only, and
 * @aws-sdk/client-cloudformation is not a dependency.
 */
import { HttpRequest } from '@smithy/protocol-http';
import { sigv4Signer, type SigningCredentials } from './sigv4.js';

export class StackError extends Error {
  override name = 'StackError';
}

const decodeXml = (text: string): string =>
  text.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&quot;', '"').replaceAll('&apos;', "'").replaceAll('&amp;', '&');

/** Every `OutputKey` -> `OutputValue` of the stack. Throws StackError with CloudFormation's own message. */
export async function stackOutputs(stackName: string, options: { region: string; credentials: SigningCredentials; endpoint?: string }): Promise<Record<string, string>> {
  const url = new URL(options.endpoint ?? `https://cloudformation.${options.region}.amazonaws.com/`);
  const body = new URLSearchParams({ Action: 'DescribeStacks', Version: '2010-05-15', StackName: stackName }).toString();
  const request = new HttpRequest({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port === '' ? {} : { port: Number(url.port) }),
    path: url.pathname,
    headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
  });
  const signed = await sigv4Signer('cloudformation', options.region, options.credentials).sign(request);
  const response = await fetch(url, { method: 'POST', headers: signed.headers, body, signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  if (!response.ok) {
    const message = /<Message>([\s\S]*?)<\/Message>/.exec(text)?.[1];
    throw new StackError(`CloudFormation DescribeStacks ${stackName}: ${message === undefined ? `HTTP ${response.status}` : decodeXml(message)}`);
  }
  const outputs: Record<string, string> = {};
  for (const member of text.matchAll(/<member>\s*([\s\S]*?)<\/member>/g)) {
    const key = /<OutputKey>([\s\S]*?)<\/OutputKey>/.exec(member[1] ?? '')?.[1];
    const value = /<OutputValue>([\s\S]*?)<\/OutputValue>/.exec(member[1] ?? '')?.[1];
    if (key !== undefined && value !== undefined) outputs[decodeXml(key)] = decodeXml(value);
  }
  return outputs;
}
