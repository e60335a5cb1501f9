using System.Globalization;
using LoraSqueeze.PeerBench;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
return PeerBenchCli.Build().Parse(args).Invoke();
