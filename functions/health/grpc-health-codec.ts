// grpc.health.v1's two messages, encoded by hand: a .proto file and a code generator for one string and
// one enum would cost more than they save.
//   message HealthCheckRequest { string service = 1; }
//   message HealthCheckResponse { enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; } ServingStatus status = 1; }

export const HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check";
export const SERVING_STATUS = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"] as const;
export type ServingStatus = (typeof SERVING_STATUS)[number];

const LENGTH_DELIMITED = 2;
const VARINT = 0;

/** An object, not the bare name: grpc-js takes a falsy request ("" for the whole server) for none at all. */
export interface HealthCheckRequest {
  service: string;
}

export function encodeHealthCheckRequest(request: HealthCheckRequest): Buffer {
  return request.service === "" ? Buffer.alloc(0) : encodeField(1, Buffer.from(request.service, "utf8"));
}

export function decodeHealthCheckRequest(message: Buffer): HealthCheckRequest {
  return { service: (readFields(message).get(1) as Buffer | undefined)?.toString("utf8") ?? "" };
}

export function encodeHealthCheckResponse(status: ServingStatus): Buffer {
  const value = SERVING_STATUS.indexOf(status);
  return value === 0 ? Buffer.alloc(0) : Buffer.from([(1 << 3) | VARINT, ...varint(value)]);
}

export function decodeHealthCheckResponse(message: Buffer): ServingStatus {
  const value = readFields(message).get(1);
  return typeof value === "number" ? (SERVING_STATUS[value] ?? "UNKNOWN") : "UNKNOWN";
}

function encodeField(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(field << 3) | LENGTH_DELIMITED, ...varint(bytes.length)]), bytes]);
}

function varint(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    bytes.push(byte);
  } while (value > 0);
  return bytes;
}

/** Field number to its last value; unknown fields are skipped, as protobuf wants. */
function readFields(message: Buffer): Map<number, number | Buffer> {
  const fields = new Map<number, number | Buffer>();
  let offset = 0;
  const readVarint = () => {
    let value = 0;
    for (let shift = 1; ; shift *= 128) {
      if (offset >= message.length) throw new Error("truncated protobuf message");
      const byte = message[offset++]!;
      value += (byte & 0x7f) * shift;
      if ((byte & 0x80) === 0) return value;
    }
  };
  while (offset < message.length) {
    const tag = readVarint();
    const [field, wireType] = [Math.floor(tag / 8), tag & 7];
    if (wireType === VARINT) fields.set(field, readVarint());
    else if (wireType === LENGTH_DELIMITED) {
      const length = readVarint();
      fields.set(field, message.subarray(offset, offset + length));
      offset += length;
    } else if (wireType === 1) offset += 8;
    else if (wireType === 5) offset += 4;
    else throw new Error(`protobuf wire type ${wireType} not supported`);
  }
  return fields;
}
