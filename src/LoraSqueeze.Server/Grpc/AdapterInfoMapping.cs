using Google.Protobuf.WellKnownTypes;
using LoraSqueeze.Server.Serving;
using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Protos.V1;

namespace LoraSqueeze.Server.Grpc;

/// <summary>Adapter state to its proto message.</summary>
internal static class AdapterInfoMapping
{
    public static AdapterInfo ToProto(this AdapterSnapshot s, PathRedactor paths)
    {
        var info = new AdapterInfo
        {
            AdapterId = s.Id,
            Tier = s.Tier switch
            {
                AdapterTier.Device => Tier.Device,
                AdapterTier.Host => Tier.Host,
                _ => Tier.Disk,
            },
            Pinned = s.Pinned,
            ActiveRequests = s.ActiveRequests,
            Hits = s.Hits,
            Bytes = s.Bytes,
            Source = paths.Redact(s.Source),
            Slot = s.Slot,
        };
        info.Slots.AddRange(s.Slots);
        if (s.LastUsed is { } last) info.LastUsed = Timestamp.FromDateTimeOffset(last);
        if (s.Info is { } load)
        {
            info.Squeeze = new SqueezeInfo
            {
                SourceKind = load.SourceKind,
                TargetRank = load.TargetRank,
                RetainedEnergy = load.RetainedEnergy,
                RelativeError = load.RelativeError,
                LoadSeconds = load.LoadTime.TotalSeconds,
                SqueezeSeconds = load.SqueezeTime.TotalSeconds,
                SlotCount = load.Slots,
                MinRetainedEnergy = load.MinRetainedEnergy,
                BelowEnergyFloor = load.BelowFloor,
            };
            info.Squeeze.SourceRanks.AddRange(load.SourceRanks);
        }
        return info;
    }
}
