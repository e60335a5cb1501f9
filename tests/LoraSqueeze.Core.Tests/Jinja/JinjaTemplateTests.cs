using LoraSqueeze.Core.Templating;

namespace LoraSqueeze.Core.Tests.Jinja;

/// <summary>
/// The interpreter's semantics one construct at a time, beyond what the real templates use. Each expected string is
/// what Python's jinja2 3.1 prints for the same template (checked by reasoning from jinja2's source and Python's
/// rules: str() of True/None/floats/lists, floor division and modulo signs, loop scoping).
/// </summary>
public sealed class JinjaTemplateTests
{
    private static string Render(string source, bool hf = false, Dictionary<string, object?>? vars = null) =>
        JinjaTemplate.Parse(source, trimBlocks: hf, lstripBlocks: hf).Render(vars ?? []);

    [Theory]
    [InlineData("{{ 1 + 2 * 3 }}", "7")]
    [InlineData("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 4 / 2 }}", "3 -4 2 3.5 2.0")]
    [InlineData("{{ 2 ** 10 }} {{ 1.5 * 2 }} {{ 'ab' * 3 }}", "1024 3.0 ababab")]
    [InlineData("{{ true }} {{ none }} {{ [1, 'a', none] }} {{ {'k': 'v'} }}", "True None [1, 'a', None] {'k': 'v'}")]
    [InlineData("{{ 'a' ~ 1 ~ none }}", "a1None")]
    [InlineData("{{ 1 == 1.0 }} {{ 'a' in 'cat' }} {{ 2 not in [1, 3] }} {{ 1 < 2 < 3 }}", "True True True True")]
    [InlineData("{{ 'x' if false }}|{{ 'y' if false else 'z' }}", "|z")]
    [InlineData("{{ 0 or 'b' }} {{ 'a' and 'b' }} {{ not 0 }}", "b b True")]
    [InlineData("{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ [1,2,3,4][-2:] }} {{ [1,2,3][::2] }}", "el olleh [3, 4] [1, 3]")]
    [InlineData("{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}", "a b|a|['a', 'b', '', 'c']|['a', 'b']")]
    [InlineData("{{ 'abc'.startswith(('x', 'a')) }} {{ 'Hello World'.lower() }} {{ 'hello world'.title() }}", "True hello world Hello World")]
    [InlineData("{{ 'a-b-c'.split('-', 1) }} {{ 'a-b-c'.rsplit('-', 1) }} {{ 'aXbXc'.replace('X', '', 1) }}", "['a', 'b-c'] ['a-b', 'c'] abXc")]
    [InlineData("{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ [1, 2] | reverse | list }} {{ [1, 1, 2] | unique | list }}", "[1, 2, 3] ['A', 'b', 'c'] [2, 1] [1, 2]")]
    [InlineData("{{ [1, 2, 3] | join('-') }} {{ [1, 2] | first }} {{ [1, 2] | last }} {{ 'abc' | length }} {{ [1, 2, 3] | sum }}", "1-2-3 1 2 3 6")]
    [InlineData("{{ undefined_name | default('d') }} {{ '' | default('e', true) }} {{ none | default('f') }}", "d e None")]
    [InlineData("{{ {'b': 1, 'a': 2} | dictsort }} {{ {'a': 1} | items | list }}", "[['a', 2], ['b', 1]] [['a', 1]]")]
    [InlineData("{{ [{'n': 'x'}, {'n': 'y'}] | map(attribute='n') | join }} {{ ['a', 'b'] | map('upper') | list }}", "xy ['A', 'B']")]
    [InlineData("{{ [1, 2, 3, 4] | select('even') | list }} {{ [1, 2, 3] | reject('odd') | list }}", "[2, 4] [2]")]
    [InlineData("{{ {'a': [1, 'é'], 'b': none, 'c': 1.5, 'd': true} | tojson }}", "{\"a\": [1, \"é\"], \"b\": null, \"c\": 1.5, \"d\": true}")]
    [InlineData("{{ {'a': [1]} | tojson(indent=2) }}", "{\n  \"a\": [\n    1\n  ]\n}")]
    [InlineData("{{ '<a href=\"x\">' | tojson }}", "\"<a href=\\\"x\\\">\"")]
    [InlineData("{{ 'line1\nline2' | indent(2) }}|{{ 'x' | indent(2, true) }}", "line1\n  line2|  x")]
    [InlineData("{{ '%s is %d' % ('n', 3) }} {{ '%.2f' | format(3.14159) }}", "n is 3 3.14")]
    [InlineData("{{ 3.0 | int }} {{ '12' | int }} {{ 'x' | int }} {{ '2.5' | float }} {{ -3 | abs }} {{ 2.567 | round(2) }}", "3 12 0 2.5 3 2.57")]
    [InlineData("{{ 1e-05 }} {{ 1e16 }} {{ 0.1 }} {{ 100.0 }} {{ -2 }}", "1e-05 1e+16 0.1 100.0 -2")]
    [InlineData("{{ 1.5e-05 }} {{ 0.0001 }} {{ 1e15 }} {{ 1234567890123456.5 }} {{ -0.0 }} {{ 2.5e20 }} {{ -3.25 }}",
        "1.5e-05 0.0001 1000000000000000.0 1234567890123456.5 -0.0 2.5e+20 -3.25")]
    public void Expressions(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{% for x in [1, 2, 3] %}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.revindex }};{% endfor %}", "1TrueFalse3;2FalseFalse2;3FalseTrue1;")]
    [InlineData("{% for x in [] %}a{% else %}empty{% endfor %}", "empty")]
    [InlineData("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}/{{ loop.length }} {% endfor %}", "2/2 4/2 ")]
    [InlineData("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }} {% endfor %}", "a=1 b=2 ")]
    [InlineData("{% for x in range(10) %}{% if x == 3 %}{% break %}{% endif %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}", "02")]
    [InlineData("{% for x in 'ab' %}{{ loop.cycle('o', 'e') }}{{ x }}{% endfor %}", "oaeb")]
    [InlineData("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}", "21")]
    [InlineData("{% set ns = namespace(x=1) %}{% for i in [1] %}{% set ns.x = 2 %}{% endfor %}{{ ns.x }}", "2")]
    [InlineData("{% if false %}a{% elif 0 %}b{% else %}c{% endif %}", "c")]
    [InlineData("{% set a, b = 1, 2 %}{{ b }}{{ a }}", "21")]
    [InlineData("{% set block %}in{{ 1 }}{% endset %}[{{ block }}]", "[in1]")]
    [InlineData("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', punct='?') }}", "Hi A! Hi B?")]
    [InlineData("{% filter upper %}shout{% endfilter %}", "SHOUT")]
    [InlineData("{% raw %}{{ not parsed }}{% endraw %}", "{{ not parsed }}")]
    [InlineData("{# a comment #}x{{ 'y' }}", "xy")]
    [InlineData("{% generation %}kept{% endgeneration %}", "kept")]
    [InlineData("{{ messages[0].role }}{{ messages[0]['content'] }}{{ messages[1] is defined }}{{ messages[0].missing is defined }}", "userhiFalseFalse")]
    public void Statements(string template, string expected) =>
        Assert.Equal(expected, Render(template, vars: new() { ["messages"] = new List<object?> { new OrderedDictionary<string, object?> { ["role"] = "user", ["content"] = "hi" } } }));

    [Theory]
    // Without trim/lstrip: every newline and indent stays; with them (Hugging Face): block lines vanish.
    [InlineData("{% if true %}\n  x\n{% endif %}\n", false, "\n  x\n")]
    [InlineData("{% if true %}\n  x\n{% endif %}\n", true, "  x\n")]
    [InlineData("  {% if true %}a{% endif %}  \nb", true, "a  \nb")]
    [InlineData("a  {%- if true -%}  b  {%- endif -%}  c", false, "abc")]
    [InlineData("a\n  {%+ if true %}b{% endif +%}\nc", true, "a\n  b\nc")]
    [InlineData("{{ 'v' }}\n{{ 'w' }}", true, "v\nw")]
    [InlineData("x {# c #}\ny", true, "x y")]
    // keep_trailing_newline=False: one final newline of the source is dropped, a second one stays.
    [InlineData("x\n", false, "x")]
    [InlineData("x\n\n", false, "x\n")]
    public void Whitespace_control(string template, bool hf, string expected) => Assert.Equal(expected, Render(template, hf));

    [Theory]
    [InlineData("{{ raise_exception('bad role') }}", "bad role")]
    [InlineData("{{ missing.attr }}", "'missing' is undefined")]
    [InlineData("{% if x %}", "missing '{% endif %}'")]
    [InlineData("line1\n{{ 1 + }}", "line 2")]
    [InlineData("{{ x | nosuchfilter }}", "unknown filter 'nosuchfilter'")]
    [InlineData("{% for x in range(3) %}{% set ns.a = 1 %}{% endfor %}", "only a namespace() can be assigned into")]
    [InlineData("{{ 1 / 0 }}", "division by zero")]
    [InlineData("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "recursion deeper than")]
    public void Errors_name_the_problem(string template, string message)
    {
        var e = Assert.Throws<JinjaException>(() => Render(template));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Strftime_now_reads_the_given_clock()
    {
        var t = JinjaTemplate.Parse("{{ strftime_now('%d %b %Y %H:%M') }}");
        Assert.Equal("05 Mar 2025 09:07", t.Render(new Dictionary<string, object?>(), () => new DateTime(2025, 3, 5, 9, 7, 0)));
    }

    [Fact]
    public void A_template_renders_many_times_with_different_variables()
    {
        var t = JinjaTemplate.Parse("{{ name }}");
        Assert.Equal("a", t.Render(new Dictionary<string, object?> { ["name"] = "a" }));
        Assert.Equal("b", t.Render(new Dictionary<string, object?> { ["name"] = "b" }));
        Assert.Equal("", t.Render(new Dictionary<string, object?>()));
    }
}
