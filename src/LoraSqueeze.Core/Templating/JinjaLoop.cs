namespace LoraSqueeze.Core.Templating;

/// <summary>The <c>loop</c> variable of a for loop (jinja2's <c>LoopContext</c>): index, first/last, neighbours, cycle.</summary>
public sealed class JinjaLoop(List<object?> items)
{
    internal int Index0 { get; set; }

    public object? Get(string name) => name switch
    {
        "index0" => (long)Index0,
        "index" => (long)Index0 + 1,
        "revindex" => (long)(items.Count - Index0),
        "revindex0" => (long)(items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == items.Count - 1,
        "length" => (long)items.Count,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => Index0 > 0 ? items[Index0 - 1] : new JinjaUndefined("loop.previtem"),
        "nextitem" => Index0 + 1 < items.Count ? items[Index0 + 1] : new JinjaUndefined("loop.nextitem"),
        "cycle" => new JinjaFunction((args, _) => args.Count == 0 ? throw new JinjaException("loop.cycle needs arguments") : args[Index0 % args.Count]),
        "changed" => new JinjaFunction((args, _) => throw new JinjaException("loop.changed is not supported")),
        _ => new JinjaUndefined("loop." + name),
    };
}
