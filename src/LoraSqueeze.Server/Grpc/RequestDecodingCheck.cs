using System.Buffers.Binary;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Http;

namespace LoraSqueeze.Server.Grpc;

/// <summary>
/// Answers a request message that does not decode (truncated protobuf, invalid UTF-8 in a string field) with
/// INVALID_ARGUMENT and the parser's reason. Grpc.AspNetCore decodes the request before any interceptor runs and maps a
/// failure to UNKNOWN "Exception was thrown by handler" (grpc/grpc-dotnet#1077: no hook reaches it), so this middleware
/// decodes the one request message of our unary and server-streaming methods first, with the method's own parser, and
/// hands the same bytes on untouched when they decode. Compressed messages are left to gRPC itself; a body over gRPC's
/// default 4 MiB receive limit is answered RESOURCE_EXHAUSTED, as gRPC would, after reading no more than the limit (an
/// HTTP/2 request has no Content-Length to judge it by beforehand).
/// </summary>
internal sealed class RequestDecodingCheck(RequestDelegate next)
{
    private const int MaxCheckedBytes = 4 << 20;   // gRPC's default receive limit; larger bodies get gRPC's own error

    private static readonly Dictionary<string, MessageParser> Parsers = Build(
        Protos.V1.Inference.Descriptor, Protos.V1.Adapters.Descriptor);

    public async Task InvokeAsync(HttpContext context)
    {
        if (!HttpMethods.IsPost(context.Request.Method) || !Parsers.TryGetValue(context.Request.Path.Value ?? "", out var parser))
        {
            await next(context);
            return;
        }
        var body = new MemoryStream();
        var chunk = new byte[1 << 16];
        int n;
        while ((n = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            body.Write(chunk, 0, n);
            if (body.Length > MaxCheckedBytes + 5)
            {
                Refuse(context, global::Grpc.Core.StatusCode.ResourceExhausted, $"the request message is larger than {MaxCheckedBytes} bytes");
                return;
            }
        }
        var bytes = body.GetBuffer().AsMemory(0, (int)body.Length);
        if (Problem(bytes.Span, parser) is { } problem)
        {
            Refuse(context, global::Grpc.Core.StatusCode.InvalidArgument, $"the request message does not decode: {problem}");
            return;
        }
        body.Position = 0;
        context.Request.Body = body;
        await next(context);
    }

    /// <summary>A trailers-only response: the status travels in the headers, with no message.</summary>
    private static void Refuse(HttpContext context, global::Grpc.Core.StatusCode status, string message)
    {
        context.Response.ContentType = "application/grpc";
        context.Response.Headers["grpc-status"] = ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.Headers["grpc-message"] = Uri.EscapeDataString(message);
    }

    /// <summary>Why the framed message does not decode, or null when it does (or is not ours to judge).</summary>
    private static string? Problem(ReadOnlySpan<byte> frame, MessageParser parser)
    {
        if (frame.Length < 5) return frame.Length == 0 ? null : "the message frame is shorter than its 5-byte header";
        if (frame[0] != 0) return null;                                    // compressed: gRPC decompresses and decodes it
        uint length = BinaryPrimitives.ReadUInt32BigEndian(frame[1..5]);
        if (length > frame.Length - 5) return $"the frame announces {length} bytes but carries {frame.Length - 5}";
        try
        {
            parser.ParseFrom(frame.Slice(5, (int)length));
            return null;
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or System.Text.DecoderFallbackException)
        {
            return ex.Message;   // DecoderFallbackException: a string field is not valid UTF-8 (proto3 requires it)
        }
    }

    private static Dictionary<string, MessageParser> Build(params ServiceDescriptor[] services)
    {
        var parsers = new Dictionary<string, MessageParser>(StringComparer.Ordinal);
        foreach (var service in services)
        {
            foreach (var method in service.Methods)
            {
                if (method.IsClientStreaming) continue;                      // one request message per call only
                parsers[$"/{service.FullName}/{method.Name}"] = method.InputType.Parser;
            }
        }
        return parsers;
    }
}
