namespace LoraSqueeze.Training.Adapters;

/// <summary>
/// What kind of adapter <c>lorasqueeze train</c> builds. LoRA+, LoRA-FA and rsLoRA are LoRA with a different optimiser
/// setup or scaling (same PEFT artifact, adapter-formats.md §5.1, §9); DoRA adds a magnitude vector (§7); VeRA trains
/// only two scaling vectors over shared frozen random projections (§8); PeriodicLoRA merges the LoRA into an
/// accumulated update every K steps and re-initialises it (§10).
/// </summary>
public enum AdapterVariant
{
    Lora,
    Dora,
    Vera,
}
