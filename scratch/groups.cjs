const fs=require("fs");const f=process.argv[2];
const p=JSON.parse(fs.readFileSync(f));const byId=new Map(p.nodes.map(n=>[n.id,n]));
const parent=new Map();for(const n of p.nodes)for(const c of (n.children||[]))parent.set(c,n.id);
const name=n=>n.callFrame.functionName+" "+n.callFrame.url.split("/").slice(-2).join("/")+":"+n.callFrame.lineNumber;
const stack=id=>{const out=[];let cur=id;while(cur!==undefined){out.push(byId.get(cur));cur=parent.get(cur)}return out};
const firstClaim=p.samples.findIndex(s=>stack(s).some(n=>n.callFrame.url.includes('flash-sale-ledger')));
const firstOrder=p.samples.findIndex(s=>stack(s).some(n=>n.callFrame.functionName==='writeRecord'));
const g=new Map();let tot=0;
for(let i=firstClaim;i<firstOrder;i++){const d=p.timeDeltas[i]||0;tot+=d;const n=byId.get(p.samples[i]);const u=n.callFrame.url;
 let k=u===''?n.callFrame.functionName:u.includes('node_modules')?u.split('node_modules/')[1].split('/')[0]:u.startsWith('node:')?'node:'+u.split('/').slice(-1)[0]:u.includes('/dist/')?'domicile '+u.split('/dist/')[1]:u;
 g.set(k,(g.get(k)||0)+d)}
console.log('total',tot/1000);[...g].sort((a,b)=>b[1]-a[1]).slice(0,30).forEach(([k,v])=>console.log((v/1000).toFixed(0),k));
