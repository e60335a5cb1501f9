using LoraSqueeze.Training.Data;
using LoraSqueeze.Training.Loop;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Tests;

/// <summary>A bigram language model (logits = W[token]): the smallest honest target for loop tests.</summary>
internal sealed class BigramTarget : ITrainingTarget, IDisposable
{
    public BigramTarget(int vocab, int seed)
    {
        using var gen = new Generator((ulong)seed);
        W = randn([vocab, vocab], generator: gen).mul_(0.01).requires_grad_(true); // [V, V]
    }

    public Tensor W { get; private set; }

    public IReadOnlyList<TrainableParameter> Parameters => [new("w", W)];

    public Tensor Loss(Batch batch) => TokenLoss.Mean(W.index_select(0, batch.Inputs.reshape(-1)).view(batch.Inputs.shape[0], batch.Inputs.shape[1], -1), batch);

    public IEnumerable<(string Name, Tensor Tensor)> StateTensors() => [("w", W)];

    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        W.Dispose();
        W = state["w"].detach().clone().requires_grad_(true);
    }

    public void Dispose() => W.Dispose();
}

internal static class ToyData
{
    /// <summary>Token ids 0..V−1 repeated: each token fully determines the next one.</summary>
    public static List<TokenRow> CountingRows(int vocab, int rows, int seqLen)
    {
        var list = new List<TokenRow>();
        for (int r = 0; r < rows; r++)
        {
            var ids = Enumerable.Range(r, seqLen + 1).Select(i => i % vocab).ToArray();
            var mask = Enumerable.Range(0, seqLen + 1).Select(i => i > 0).ToArray();
            list.Add(new TokenRow(ids, mask));
        }
        return list;
    }

    /// <summary>A character-level encoder for data tests: each char's code, BOS 1, EOS 2, PAD 0.</summary>
    public static TokenEncoder Chars() => new(s => s.Select(c => (int)c).ToArray(), 1, 2, 0);
}
