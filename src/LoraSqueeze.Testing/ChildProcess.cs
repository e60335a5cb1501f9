using System.Collections.Concurrent;
using System.Diagnostics;

namespace LoraSqueeze.Testing;

/// <summary>
/// A program run as a separate process, as a user would (the CLI in tests, <c>lorasqueeze serve</c> in tests and the
/// load test): its stdout and stderr lines are collected (and optionally copied to a log file) as they come, it can be
/// waited on for a line, and disposing it kills its process tree.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly StreamWriter? _log;

    private ChildProcess(ProcessStartInfo info, string? logPath)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        if (logPath is not null) _log = new StreamWriter(logPath) { AutoFlush = true };
        _process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}");
        _process.OutputDataReceived += (_, e) => Collect(e.Data);
        _process.ErrorDataReceived += (_, e) => Collect(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Starts <paramref name="fileName"/> with <paramref name="args"/> and extra environment variables.</summary>
    public static ChildProcess Start(string fileName, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null,
        string? logPath = null)
    {
        return new ChildProcess(Info(fileName, args, environment), logPath);
    }

    /// <summary>Runs to completion: exit code, stdout, stderr. Throws <see cref="TimeoutException"/> (after killing it) when it overruns.</summary>
    public static (int Code, string Stdout, string Stderr) Run(string fileName, IEnumerable<string> args, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null, string? stdin = null)
    {
        var info = Info(fileName, args, environment);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = stdin is not null;
        info.UseShellExecute = false;
        using var p = Process.Start(info) ?? throw new InvalidOperationException($"could not start {fileName}");
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', info.ArgumentList)} did not finish in {timeout.TotalSeconds:F0} s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static ProcessStartInfo Info(string fileName, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo(fileName);
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) info.Environment[k] = v;
        return info;
    }

    /// <summary>Every line the process wrote (stdout and stderr) so far.</summary>
    public IReadOnlyCollection<string> Lines => _lines;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The first line matching <paramref name="match"/>; throws when the process exits or the time runs out first.</summary>
    public string WaitForLine(Func<string, bool> match, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            var line = _lines.FirstOrDefault(match);
            if (line is not null) return line;
            if (_process.HasExited || DateTime.UtcNow > until)
                throw new InvalidOperationException($"{_process.StartInfo.FileName} did not print the expected line:\n{string.Join('\n', _lines)}");
            Thread.Sleep(50);
        }
    }

    private void Collect(string? line)
    {
        if (line is null) return;
        _lines.Enqueue(line);
        if (_log is null) return;
        lock (_log) _log.WriteLine(line);
    }

    /// <summary>The process id.</summary>
    public int Id => _process.Id;

    /// <summary>
    /// Sends SIGTERM (so a script's traps clean up what it started) and waits up to <paramref name="grace"/> for the
    /// exit; kills the whole tree after that.
    /// </summary>
    public void Terminate(TimeSpan grace)
    {
        if (_process.HasExited) return;
        Run("kill", ["-TERM", Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
        if (!_process.WaitForExit(grace)) _process.Kill(entireProcessTree: true);
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
        _process.Dispose();
        if (_log is not null) lock (_log) _log.Dispose();
    }
}
