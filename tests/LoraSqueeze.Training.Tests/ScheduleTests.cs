using LoraSqueeze.Training.Optim;
using LoraSqueeze.Training.Squeeze;

namespace LoraSqueeze.Training.Tests;

public class ScheduleTests
{
    [Fact]
    public void Lr_warms_up_linearly_then_decays_by_cosine_to_min()
    {
        var s = new LrSchedule(1e-3, WarmupSteps: 10, TotalSteps: 110, MinLr: 1e-4);
        Assert.Equal(1e-4, s.At(0), 12);
        Assert.Equal(1e-3, s.At(9), 12);
        Assert.Equal(1e-3, s.At(10), 12);
        Assert.Equal(1e-4 + 0.5 * 9e-4, s.At(60), 12); // halfway through the decay
        Assert.Equal(1e-4, s.At(110), 12);
        for (int i = 10; i < 110; i++) Assert.True(s.At(i + 1) <= s.At(i));
    }

    [Theory]
    [InlineData(AnnealShape.Geometric, new[] { 64, 32, 16, 8 })]
    [InlineData(AnnealShape.Linear, new[] { 64, 45, 27, 8 })]
    [InlineData(AnnealShape.Cosine, new[] { 64, 50, 22, 8 })]
    public void Anneal_shapes_go_from_source_to_target(AnnealShape shape, int[] expected)
    {
        var s = RankSchedule.Create(64, 8, 4, shape, 400);
        Assert.Equal(expected, s.Ranks);
        Assert.Equal([0, 100, 200, 300, 400], Enumerable.Range(0, 5).Select(s.StageStart));
        Assert.Equal(64, s.RankAt(99));
        Assert.Equal(32 == expected[1] ? 32 : expected[1], s.RankAt(100));
        Assert.Equal(8, s.RankAt(399));
    }

    [Fact]
    public void Anneal_to_rank_one_never_rises_and_rejects_bad_input()
    {
        var s = RankSchedule.Create(64, 1, 5, AnnealShape.Geometric, 100);
        Assert.Equal([64, 23, 8, 3, 1], s.Ranks);
        Assert.Throws<ArgumentException>(() => RankSchedule.Create(4, 8, 3, AnnealShape.Linear, 100));
        Assert.Throws<ArgumentException>(() => RankSchedule.ParseAnneal("64-8"));
        Assert.Equal((64, 8), RankSchedule.ParseAnneal("64:8"));
        Assert.Throws<ArgumentException>(() => RankSchedule.ParseShape("step"));
    }
}
