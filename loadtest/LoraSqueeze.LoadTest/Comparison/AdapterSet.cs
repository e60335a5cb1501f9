namespace LoraSqueeze.LoadTest.Comparison;

/// <summary>A generated adapter root: ids in popularity order with their source ranks.</summary>
public sealed record AdapterSet(string Root, IReadOnlyList<string> Ids, IReadOnlyList<int> SourceRanks, int PhysicalAdapters, long DiskBytes);
